"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.web_helpers import SmtpSink, World, make_world


@pytest.fixture(scope="session")
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(tmp_path: Path, sink: SmtpSink) -> Iterator[World]:
    built = make_world(tmp_path, sink)
    with built.client:
        yield built
    built.database.dispose()
