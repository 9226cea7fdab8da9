"""The support tables: cases a tenant's users open and the thread of messages in each.

A case keeps a snapshot of its tenant as it was when the case was opened (state, plan,
region, the last operations), so the support engineer reads what the customer saw even
after the tenant has moved on. They share the registry's `Base`, so one migration history
covers the schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseSide(StrEnum):
    """Who wrote a message: the tenant's people or the provider's support staff."""

    CUSTOMER = "customer"
    SUPPORT = "support"


class SupportCase(Base):
    """A request for help about one tenant."""

    __tablename__ = "support_cases"
    __table_args__ = (
        Index("ix_support_cases_tenant", "tenant_id", "id"),
        Index("ix_support_cases_status", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    """A `CaseStatus` value."""
    awaiting: Mapped[str] = mapped_column(String(16))
    """The `CaseSide` whose answer is due: support after the customer wrote, and back."""
    page: Mapped[str] = mapped_column(String(512))
    """The portal path the case was opened from."""
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    snapshot: Mapped[dict[str, Any]]
    """The tenant at opening: state, plan, region, last error, last operations."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    """The last message or status change."""
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(128))


class CaseMessage(Base):
    """One message of a case's thread (the first is the case's description)."""

    __tablename__ = "support_case_messages"
    __table_args__ = (Index("ix_support_case_messages_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("support_cases.id"))
    author: Mapped[str] = mapped_column(String(128))
    """The author as the audit log names them (`user:<email>`)."""
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    side: Mapped[str] = mapped_column(String(16))
    """A `CaseSide` value."""
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
