"""Fixtures of the control plane tests: a fresh registry (SQLite or PostgreSQL) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from control_plane.db import Database, open_database
from control_plane.service import TenantService
from control_plane.settings import Settings
from control_plane.stacks import StackFiles
from tests.control_plane.control_plane_helpers import make_settings

POSTGRES_URL_VARIABLE = "TENANTS_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _no_tenants_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure settings explicitly; an operator's TENANTS_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("TENANTS_") and name != POSTGRES_URL_VARIABLE:
            monkeypatch.delenv(name)


def isolated_postgres_url(url: str) -> str:
    """`url` on an empty schema of its own (one per xdist worker), so parallel test
    processes and other suites sharing the server never see each other's tables."""
    schema = f"control_plane_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database.dispose()
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The registry URL: a SQLite file, and PostgreSQL when a test server is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set; start a server with "
            f"`eval $(scripts/postgres.sh)` to run the PostgreSQL variant"
        )
    return isolated_postgres_url(url)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


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
