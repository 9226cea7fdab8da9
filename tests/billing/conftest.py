"""Shared fixtures of the billing tests: settings, a controllable clock, signed deliveries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from control_plane.billing.app import create_app
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import InMemoryBillingStore, SqlBillingStore
from control_plane.db import Database, open_database
from tests.billing.billing_helpers import OLD_SECRET, SECRET, Clock, Sender


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> BillingSettings:
    return BillingSettings(
        webhook_secrets=(SECRET, OLD_SECRET),
        suspension_grace=timedelta(days=3),
        price_plans={
            "free-monthly": "free",
            "starter-monthly": "starter",
            "pro-monthly": "pro",
            "enterprise-monthly": "enterprise",
            "price_1LegacyPro": "pro",
        },
    )


@pytest.fixture
def memory_store() -> InMemoryBillingStore:
    return InMemoryBillingStore()


@pytest.fixture
def sender(
    settings: BillingSettings, memory_store: InMemoryBillingStore, clock: Clock
) -> Iterator[Sender]:
    with TestClient(create_app(settings, memory_store, clock=clock)) as client:
        yield Sender(client, clock)


POSTGRES_URL_VARIABLE = "TENANTS_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    """The test server's URL on an empty schema of this xdist worker's own."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set; start a server with "
            f"`eval $(scripts/postgres.sh)` to run the PostgreSQL variant"
        )
    schema = f"billing_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = Database(url)
    with admin.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The registry with the billing tables: a SQLite file, and PostgreSQL when configured."""
    sqlite = f"sqlite:///{tmp_path / 'registry.db'}"
    url = sqlite if request.param == "sqlite" else _postgres_url()
    database = open_database(url)
    yield database
    database.dispose()


@pytest.fixture
def sql_store(database: Database) -> Iterator[SqlBillingStore]:
    store = SqlBillingStore(database)
    yield store
    store.close()
