"""Alembic environment: migrates the registry at the connection `Database.migrate` passes,
or at `TENANTS_DATABASE_URL` (default SQLite file) when run from the `alembic` command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from control_plane.registry import (  # noqa: F401  (registers their tables)
    billing_models,
    drift_models,
    event_models,
)
from control_plane.registry.database import make_engine
from control_plane.registry.models import Base
from control_plane.settings import Settings

# Any constant shared by every migrating process: they queue on it instead of racing.
_POSTGRES_MIGRATION_LOCK = 7_283_512_019


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_POSTGRES_MIGRATION_LOCK})"))
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    engine = make_engine(Settings().registry_url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


_main()
