"""Fixtures of the portal tests: the page-level world comes from tests/web; the browser
tests get one served portal and one Chromium for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from playwright.sync_api import sync_playwright

from tests.web.portal.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Live,
    missing_tools,
    serve_portal,
)
from tests.web.web_helpers import SmtpSink


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the portal's boto3 clients (alarm states)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _aws_is_moto(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each portal test reads AWS from the moto server, never AWS, and leaves no boto3
    default session (nor endpoint) behind for the tests after it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=10)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[Live]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    with serve_portal(Path(tmp_path_factory.mktemp("portal")), sink) as served:
        yield served


@pytest.fixture(scope="session")
def browser(live: Live) -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh browser context (its own cookies) per test; more pages from `browser`."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
