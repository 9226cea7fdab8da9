"""The PostgreSQL test server, shared by the suites that run a PostgreSQL variant."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from control_plane.registry.database import Database

POSTGRES_URL_VARIABLE = "TENANTS_TEST_POSTGRES_URL"
_CHECKOUT = hashlib.sha256(str(Path(__file__).resolve().parents[1]).encode()).hexdigest()[:8]
"""Tells apart the schemas of test runs from different checkouts sharing one server."""


def postgres_test_url(suite: str) -> str:
    """The server's URL on an empty schema of the suite's and this xdist worker's own, so
    parallel test processes and suites sharing the server never see each other's tables.
    Skips the test, saying how to get a server, when none is configured."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set; start a server with "
            f"`eval $(scripts/postgres.sh)` to run the PostgreSQL variant"
        )
    schema = f"{suite}_{_CHECKOUT}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
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
