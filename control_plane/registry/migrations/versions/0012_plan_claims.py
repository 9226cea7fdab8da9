"""Plan claims: a tenant user's request to move a tenant without a subscription onto a paid
plan, which the subscription event that follows must name.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_plan_claims",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_billing_plan_claims_tenant", "billing_plan_claims", ["tenant_id", "consumed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_billing_plan_claims_tenant", table_name="billing_plan_claims")
    op.drop_table("billing_plan_claims")
