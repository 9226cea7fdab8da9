"""Billing: reconciliation status per subscription, and the subscription each tenant belongs to.

Tenants billing created before this revision are bound to the one subscription that names
them when their first spec version was written by billing; any other tenant a subscription
names stays unbound until an operator links it (`tenantctl billing link`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_subscriptions") as table:
        table.add_column(
            sa.Column(
                "reconcile_status", sa.String(length=16), nullable=False, server_default="pending"
            )
        )
        table.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        table.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("retry_at", sa.DateTime(), nullable=True))
        table.add_column(sa.Column("refused_for", sa.String(length=64), nullable=True))
    op.create_table(
        "billing_tenant_owners",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("bound_by", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("bound_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
        sa.UniqueConstraint("subscription_id"),
    )
    # Bind the tenants billing created: named by exactly one subscription, first written by
    # billing. Ambiguous ones are left for an operator to link.
    op.execute(
        """
        INSERT INTO billing_tenant_owners
            (tenant_id, subscription_id, customer_id, bound_by, actor, bound_at)
        SELECT s.tenant_id, MIN(s.id), NULL, 'created', 'billing', MIN(v.created_at)
        FROM billing_subscriptions s
        JOIN tenant_specs v ON v.tenant_id = s.tenant_id AND v.version = 1
        WHERE v.actor = 'billing'
        GROUP BY s.tenant_id
        HAVING COUNT(DISTINCT s.id) = 1
        """
    )


def downgrade() -> None:
    op.drop_table("billing_tenant_owners")
    with op.batch_alter_table("billing_subscriptions") as table:
        for column in ("refused_for", "retry_at", "failures", "last_error", "reconcile_status"):
            table.drop_column(column)
