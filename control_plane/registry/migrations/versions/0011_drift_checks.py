"""Drift checks: the latest drift check of each tenant and the resources it found drifted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_checks",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_index("ix_drift_checks_checked_at", "drift_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_drift_checks_checked_at", table_name="drift_checks")
    op.drop_table("drift_checks")
