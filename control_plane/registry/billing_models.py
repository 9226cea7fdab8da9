"""The billing tables: received events (deduplicated by event id), subscription ledgers with
their reconciliation status, which subscription owns which tenant, and invoices. They share
the registry's `Base`, so one migration history covers the schema."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class BillingEventRecord(Base):
    """One verified delivery, stored once per event id with what it did."""

    __tablename__ = "billing_events"
    __table_args__ = (Index("ix_billing_events_subscription", "subscription_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The billing system's event id (`evt_...`): the deduplication key."""
    type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    """When the billing system created the event (orders deliveries)."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    """`applied`, `unchanged`, `ignored` or `refused` (it names another's tenant)."""
    action: Mapped[str | None] = mapped_column(String(32))
    """The lifecycle action the event caused, if any."""
    reason: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    """The raw signed body, for the audit trail."""


class SubscriptionLedger(Base):
    """The folded state of one subscription (`control_plane.billing.ledger`)."""

    __tablename__ = "billing_subscriptions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    reconcile_status: Mapped[str] = mapped_column(String(16), default="pending")
    """A `control_plane.billing.reconcile.SubscriptionStatus` value."""
    last_error: Mapped[str | None] = mapped_column(Text)
    """Why the latest request for this subscription failed or was refused."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive failed passes; the retry delay doubles with each."""
    retry_at: Mapped[datetime | None]
    """Not tried again before this time (backoff after a failure)."""
    refused_for: Mapped[str | None] = mapped_column(String(64))
    """Fingerprint of the desired tenant that was refused; it is asked again only once the
    subscription asks for something else (or an operator links its tenant)."""


class TenantOwner(Base):
    """The subscription (and customer) a tenant belongs to: the one whose event created it,
    or the one an operator linked it to. Only that subscription's events change it."""

    __tablename__ = "billing_tenant_owners"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    bound_by: Mapped[str] = mapped_column(String(16))
    """`created` (billing created the tenant) or `linked` (an operator linked it)."""
    actor: Mapped[str] = mapped_column(String(128))
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceRecord(Base):
    """An issued invoice; lines as JSON, amounts exact."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """`INV-<yyyy><mm>-<seq>`."""
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The whole invoice (`Invoice.model_dump(mode="json")`)."""
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanClaim(Base):
    """A tenant user's open request to move a tenant that belongs to no subscription onto a
    paid plan: the one thing that lets a subscription event take an existing tenant. Its id
    travels in the checkout's metadata; the event must carry it back before `expires_at`."""

    __tablename__ = "billing_plan_claims"
    __table_args__ = (Index("ix_billing_plan_claims_tenant", "tenant_id", "consumed_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """`upg_<random>`: unguessable, so only the checkout started here carries it."""
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    plan: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    """Who asked; the plan change is recorded in their name."""
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    consumed_at: Mapped[datetime | None]
    """When a subscription took the tenant with it (then `subscription_id` says which)."""
    subscription_id: Mapped[str | None] = mapped_column(String(255))
