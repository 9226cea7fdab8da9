"""Support cases with their message threads; a retried job names the failed job it reruns.

Revision ID: 0009
Revises: 0012
Create Date: 2026-11-30 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("awaiting", sa.String(length=16), nullable=False),
        sa.Column("page", sa.String(length=512), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_by_user_id", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["opened_by_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_support_cases_tenant", "support_cases", ["tenant_id", "id"])
    op.create_index("ix_support_cases_status", "support_cases", ["status", "updated_at"])
    op.create_table(
        "support_case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["support_cases.id"]),
        sa.ForeignKeyConstraint(["author_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_support_case_messages_case", "support_case_messages", ["case_id", "id"])
    op.add_column("jobs", sa.Column("retry_of", sa.Integer(), nullable=True))
    op.create_index("ix_jobs_retry_of", "jobs", ["retry_of"])


def downgrade() -> None:
    op.drop_index("ix_jobs_retry_of", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retry_of")
    op.drop_index("ix_support_case_messages_case", table_name="support_case_messages")
    op.drop_table("support_case_messages")
    op.drop_index("ix_support_cases_status", table_name="support_cases")
    op.drop_index("ix_support_cases_tenant", table_name="support_cases")
    op.drop_table("support_cases")
