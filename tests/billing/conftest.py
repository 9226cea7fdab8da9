"""Shared fixtures of the billing tests: settings, a controllable clock, signed deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from control_plane.billing.app import create_app
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import InMemoryBillingStore, SqlBillingStore
from control_plane.registry.database import Database, open_database
from tests.billing.billing_helpers import OLD_SECRET, SECRET, Clock, Sender
from tests.postgres import postgres_test_url


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The registry with the billing tables: a SQLite file, and PostgreSQL when configured."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = postgres_test_url("billing")
    database = open_database(url)
    yield database
    database.dispose()


@pytest.fixture
def sql_store(database: Database) -> Iterator[SqlBillingStore]:
    store = SqlBillingStore(database)
    yield store
    store.close()
