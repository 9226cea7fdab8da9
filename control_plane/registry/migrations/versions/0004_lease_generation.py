"""Fencing tokens: a lease generation per tenant, and the generation of each job's claim.

Revision ID: 0004
Revises: 0008
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("tenants", "jobs"):
        op.add_column(
            table,
            sa.Column("lease_generation", sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    for table in ("jobs", "tenants"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_generation")
