"""Fixtures of the operations tests: a fresh registry (SQLite or PostgreSQL) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.queue.worker import Worker
from control_plane.registry.database import Database, open_database
from control_plane.service import TenantService
from control_plane.settings import Settings
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import RecordingRunner, make_settings
from tests.postgres import postgres_test_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = "" if request.param == "sqlite" else postgres_test_url("ops")
    return make_settings(tmp_path, url)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings.registry_url)
    yield db
    db.dispose()


@pytest.fixture
def stacks(settings: Settings) -> StackFiles:
    return StackFiles(settings.stacks_dir)


@pytest.fixture
def service(database: Database, settings: Settings, stacks: StackFiles) -> TenantService:
    return TenantService(database, settings, stacks)


@pytest.fixture
def drain(database: Database, settings: Settings, stacks: StackFiles) -> Iterator[object]:
    def run(runner: object | None = None) -> None:
        Worker(database, settings, runner or RecordingRunner(), stacks=stacks).drain()  # type: ignore[arg-type]

    yield run
