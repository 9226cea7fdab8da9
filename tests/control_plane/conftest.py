"""Fixtures of the control plane tests: a fresh registry (SQLite or PostgreSQL) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.registry.database import Database, open_database
from control_plane.service import TenantService
from control_plane.settings import Settings
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import make_settings
from tests.postgres import POSTGRES_URL_VARIABLE, postgres_test_url


@pytest.fixture(autouse=True)
def _no_tenants_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure settings explicitly; an operator's TENANTS_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("TENANTS_") and name != POSTGRES_URL_VARIABLE:
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The registry URL: a SQLite file, and PostgreSQL when a test server is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return postgres_test_url("control_plane")


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
