"""Fixtures of the support tests: a registry (SQLite or PostgreSQL), the tenant service,
a worker to drain the queue and user rows to write as."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from control_plane.queue.worker import Worker
from control_plane.registry.account_models import User
from control_plane.registry.database import Database, open_database
from control_plane.registry.support_models import CaseSide
from control_plane.service import TenantService
from control_plane.settings import Settings
from control_plane.support.cases import Author, SupportService
from tests.control_plane.control_plane_helpers import RecordingRunner, make_settings
from tests.postgres import postgres_test_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = "" if request.param == "sqlite" else postgres_test_url("support")
    return make_settings(tmp_path, url)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings.registry_url)
    yield db
    db.dispose()


@pytest.fixture
def service(database: Database, settings: Settings) -> TenantService:
    return TenantService(database, settings)


@pytest.fixture
def support(database: Database) -> SupportService:
    return SupportService(database)


@pytest.fixture
def drain(database: Database, settings: Settings) -> Callable[[], None]:
    def run() -> None:
        Worker(database, settings, RecordingRunner()).drain()

    return run


@pytest.fixture
def person(database: Database) -> Callable[[str, CaseSide], Author]:
    """An author backed by a user row."""

    def make(email: str, side: CaseSide) -> Author:
        with database.transaction() as session:
            user = User(email=email, display_name=email, password_hash="x")
            session.add(user)
            session.flush()
            return Author(actor=f"user:{email}", user_id=user.id, side=side)

    return make
