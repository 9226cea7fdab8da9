"""Engine, sessions and schema migrations of the registry.

A SQLite registry file (and its -wal and -shm files) is private to its owner (0600, in a
0700 directory when the directory is created here).

SQLite serialises writers: every transaction starts with `BEGIN IMMEDIATE`, so a
read-then-write (claiming a job, allocating a CIDR) holds the write lock from its first
read, which makes those steps safe across threads and processes. PostgreSQL gets row
locks (`FOR UPDATE SKIP LOCKED`) in the queries that need them instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from control_plane.files import create_private_file
from control_plane.registry.lifecycle_events import record_lifecycle_events

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 60.0
"""How long a SQLite writer waits for the lock before failing (many workers share a file)."""


class RegistryUnavailableError(RuntimeError):
    """The registry database cannot be opened: a malformed URL, a missing driver, a server
    that does not answer or a directory that cannot be created (the message says which)."""


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and immediate transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:":
        # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
        # database file's mode, and would otherwise create all three world-readable.
        create_private_file(Path(database))
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        # One connection per checkout: pooled SQLite connections are not worth the
        # cross-thread care and a fork() must not inherit an open file handle.
        poolclass=NullPool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, issue BEGIN (see the `begin` hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The registry database: one engine, transactional sessions, migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", record_lifecycle_events)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql` (the locking strategy depends on it)."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the latest revision (safe when several processes start)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """The migrated registry at `url`; `RegistryUnavailableError` when it cannot be opened."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryUnavailableError(
            f"{url!r} is not a database URL (e.g. sqlite:///path/tenants.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        database = Database(url)
    except OSError as error:
        raise RegistryUnavailableError(
            f"cannot create the directory of {shown}: {(error.strerror or str(error)).lower()}"
        ) from error
    except (SQLAlchemyError, ImportError) as error:
        raise RegistryUnavailableError(f"cannot use {shown}: {_reason(error)}") from error
    try:
        database.migrate()
    except (SQLAlchemyError, OSError) as error:
        database.dispose()
        raise RegistryUnavailableError(f"cannot open {shown}: {_reason(error)}") from error
    return database


def _reason(error: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's wrapping and links."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
