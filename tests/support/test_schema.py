"""Migration 0009 creates what the models declare: the support tables and `jobs.retry_of`."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control_plane.registry import account_models, support_models
from control_plane.registry.database import Database
from control_plane.registry.models import Base

OURS = {support_models.SupportCase.__tablename__, support_models.CaseMessage.__tablename__}


def _touches_ours(diff: Any) -> bool:
    text = repr(diff)
    return any(name in text for name in OURS) or "retry_of" in text


def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    assert account_models.User.__tablename__ in Base.metadata.tables
    with database.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if _touches_ours(d)] == []
