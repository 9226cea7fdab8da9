"""Revision 0003 binds the tenants billing already created to their subscription, and
leaves tenants made elsewhere (or claimed by two subscriptions) for an operator to link."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from control_plane.registry.database import MIGRATIONS_DIR, Database

_TENANT = (
    "INSERT INTO tenants (id, plan, state, spec_version, created_at, updated_at) "
    "VALUES (:id, 'starter', 'active', 1, '2026-11-01', '2026-11-01')"
)
_SPEC = (
    "INSERT INTO tenant_specs (tenant_id, version, spec, actor, reason, created_at) "
    "VALUES (:id, 1, '{}', :actor, 'create', '2026-11-01')"
)
_LEDGER = (
    "INSERT INTO billing_subscriptions (id, tenant_id, state, updated_at) "
    "VALUES (:id, :tenant, '{}', '2026-11-01')"
)


def _upgrade(database: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_billing_created_tenants_are_bound_and_others_are_left_alone(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    _upgrade(database, "0002")
    with database.engine.begin() as connection:
        for tenant, actor in (("acme", "billing"), ("hooli", "alice"), ("globex", "billing")):
            connection.execute(text(_TENANT), {"id": tenant})
            connection.execute(text(_SPEC), {"id": tenant, "actor": actor})
        for subscription, tenant in (
            ("sub_A", "acme"),
            ("sub_H", "hooli"),  # created from the CLI, then named by a subscription
            ("sub_G1", "globex"),  # two subscriptions claim it: ambiguous
            ("sub_G2", "globex"),
        ):
            connection.execute(text(_LEDGER), {"id": subscription, "tenant": tenant})
    _upgrade(database, "head")
    with database.engine.begin() as connection:
        owners = connection.execute(
            text("SELECT tenant_id, subscription_id, bound_by FROM billing_tenant_owners")
        ).all()
        statuses = connection.execute(
            text("SELECT DISTINCT reconcile_status, failures FROM billing_subscriptions")
        ).all()
    assert [tuple(row) for row in owners] == [("acme", "sub_A", "created")]
    assert [tuple(row) for row in statuses] == [("pending", 0)]
    database.dispose()
