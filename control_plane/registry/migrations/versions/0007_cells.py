"""Cells: the AWS accounts tenants are placed in, and each tenant's placement.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cells",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=False),
        sa.Column("external_id", sa.String(length=1224), nullable=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("headroom_percent", sa.Integer(), nullable=False),
        sa.Column("quotas", sa.JSON(), nullable=False),
        sa.Column("quotas_read_at", sa.DateTime(), nullable=False),
        sa.Column("silo_tenant", sa.String(length=32), nullable=True),
        sa.Column("account_email", sa.String(length=64), nullable=True),
        sa.Column("drained", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("account_id"),
        sa.UniqueConstraint("silo_tenant"),
    )
    op.create_table(
        "cell_placements",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("cell_name", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("consumption", sa.JSON(), nullable=False),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cell_name"], ["cells.name"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_index("ix_cell_placements_cell_name", "cell_placements", ["cell_name"])


def downgrade() -> None:
    op.drop_index("ix_cell_placements_cell_name", table_name="cell_placements")
    op.drop_table("cell_placements")
    op.drop_table("cells")
