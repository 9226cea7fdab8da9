"""Tables of lifecycle events going out: the outbox, the subscribed endpoints and the
delivery log. Events are written in the transaction that changes a tenant's state, so an
event exists exactly when the change was committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class LifecycleEvent(Base):
    """One change of a tenant's lifecycle state (the outbox of outgoing events)."""

    __tablename__ = "lifecycle_events"
    __table_args__ = (Index("ix_lifecycle_events_pending", "fanned_out", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(32))
    """`created`, `provisioned`, `updated`, `suspended`, `resumed`, `failed`, `retired`, or
    `state-changed` for the in-progress states."""
    state: Mapped[str] = mapped_column(String(32))
    previous_state: Mapped[str | None] = mapped_column(String(32))
    plan: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The last error of a failed tenant; nothing secret."""
    fanned_out: Mapped[bool] = mapped_column(default=False)
    """Whether a delivery row exists for every target subscribed when it was dispatched."""


class EventEndpoint(Base):
    """A URL that receives signed lifecycle events: one tenant's, or every tenant's."""

    __tablename__ = "event_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048))
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """Only this tenant's events; every tenant's when empty (an integration)."""
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    """Removed endpoints are disabled, not deleted, so the delivery log keeps its target."""


class EventDelivery(Base):
    """One event to one target (an endpoint, or the EventBridge bus): attempts and outcome."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target", name="uq_event_deliveries_event_target"),
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("lifecycle_events.id"))
    target: Mapped[str] = mapped_column(String(300))
    """`endpoint:<id>` or `eventbridge:<bus name>`."""
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("event_endpoints.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """`pending` (due at `next_attempt_at`), `delivered` or `failed` (attempts used up)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
