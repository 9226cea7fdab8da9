"""Subscriptions as operators see and change them: who owns which tenant, how each
subscription's reconciliation stands, and linking a tenant made outside billing.

A tenant belongs to one subscription. Billing binds a tenant it creates to the subscription
(and customer) whose event asked for it, in the transaction that registers the tenant; a
tenant created any other way (the CLI, a stack file) belongs to no subscription until an
operator links it here. The reconciler changes only tenants bound to the subscription
asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control_plane.billing.events import SubscriptionPhase
from control_plane.billing.ledger import SubscriptionState
from control_plane.registry.billing_models import SubscriptionLedger, TenantOwner
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.repository import Registry

_GONE = (TenantState.DEPROVISIONING.value, TenantState.RETIRED.value)


class SubscriptionStatus(StrEnum):
    """How the reconciliation of one subscription stands."""

    PENDING = "pending"
    """Not reconciled yet."""
    CONVERGED = "converged"
    """Its tenant is as billed, or the requests that make it so are queued."""
    WAITING = "waiting"
    """The tenant's state does not allow the request yet (an operation is running); it is
    asked again on the next pass."""
    RETRYING = "retrying"
    """The request failed; it is tried again after a delay that doubles with each failure."""
    REFUSED = "refused"
    """Refused for a reason that does not change by itself; asked again only once the
    subscription asks for something else or an operator links its tenant."""


class BindingBy(StrEnum):
    CREATED = "created"
    """Billing created the tenant for the subscription."""
    LINKED = "linked"
    """An operator linked an existing tenant to the subscription."""
    UPGRADED = "upgraded"
    """A tenant user's plan claim let the subscription take the existing tenant."""


class LinkError(ValueError):
    """The tenant cannot be linked to the subscription; the message says why."""


@dataclass(frozen=True)
class Owner:
    """The subscription a tenant belongs to."""

    tenant_id: str
    subscription_id: str
    customer_id: str | None
    bound_by: str
    actor: str
    bound_at: datetime


@dataclass(frozen=True)
class SubscriptionView:
    """One subscription's reconciliation, as `tenantctl billing status` shows it."""

    subscription_id: str
    tenant_id: str | None
    customer_id: str | None
    owns_tenant: bool
    """Whether the tenant it names is bound to it."""
    status: str
    last_error: str | None
    failures: int
    retry_at: datetime | None
    updated_at: datetime


def owners(session: Session) -> dict[str, Owner]:
    """Every binding, by tenant id."""
    return {row.tenant_id: _owner(row) for row in session.scalars(select(TenantOwner))}


def owner_of(session: Session, tenant_id: str) -> Owner | None:
    row = session.get(TenantOwner, tenant_id)
    return None if row is None else _owner(row)


def bind_created(
    session: Session, tenant_id: str, subscription_id: str, customer_id: str | None, actor: str
) -> None:
    """Bind a tenant billing is creating to its subscription (in the create's transaction)."""
    session.add(
        TenantOwner(
            tenant_id=tenant_id,
            subscription_id=subscription_id,
            customer_id=customer_id,
            bound_by=BindingBy.CREATED.value,
            actor=actor,
        )
    )


def link(database: Database, tenant_id: str, subscription_id: str, *, actor: str) -> Owner:
    """Bind an existing tenant that belongs to no subscription to `subscription_id`, which
    must name it; its reconciliation starts afresh."""
    with database.transaction() as session:
        ledger = session.get(SubscriptionLedger, subscription_id, with_for_update=True)
        if ledger is None:
            raise LinkError(
                f"unknown subscription {subscription_id!r}; `tenantctl billing status` "
                f"lists the subscriptions billing has heard of"
            )
        state = SubscriptionState.model_validate(ledger.state)
        snapshot = state.snapshot
        if snapshot is None:
            raise LinkError(
                f"subscription {subscription_id} names no tenant yet (no subscription event "
                f"applied); link it once its events name {tenant_id!r}"
            )
        if snapshot.tenant_id != tenant_id:
            raise LinkError(
                f"subscription {subscription_id} names tenant {snapshot.tenant_id!r}, "
                f"not {tenant_id!r}"
            )
        if snapshot.phase is SubscriptionPhase.ENDED:
            raise LinkError(
                f"subscription {subscription_id} has ended; linking would retire tenant "
                f"{tenant_id!r}, so only a live subscription is linked"
            )
        registry = Registry(session)
        tenant = registry.tenant(tenant_id, for_update=True)
        if tenant.state in _GONE:
            raise LinkError(f"tenant {tenant_id!r} is {tenant.state}; only a live tenant is linked")
        bound = session.get(TenantOwner, tenant_id)
        if bound is not None:
            raise LinkError(
                f"tenant {tenant_id!r} already belongs to subscription {bound.subscription_id}"
            )
        taken = session.scalar(
            select(TenantOwner.tenant_id).where(TenantOwner.subscription_id == subscription_id)
        )
        if taken is not None:
            raise LinkError(f"subscription {subscription_id} already owns tenant {taken!r}")
        region = registry.spec(tenant_id).region
        if region != snapshot.region:
            raise LinkError(
                f"subscription {subscription_id} asks for region {snapshot.region!r} but tenant "
                f"{tenant_id!r} runs in {region!r}; a tenant's region never changes"
            )
        owner = TenantOwner(
            tenant_id=tenant_id,
            subscription_id=subscription_id,
            customer_id=snapshot.customer_id,
            bound_by=BindingBy.LINKED.value,
            actor=actor,
        )
        session.add(owner)
        customer = f" (customer {snapshot.customer_id})" if snapshot.customer_id else ""
        registry.record_request(
            tenant_id,
            "billing-link",
            actor=actor,
            spec_version=tenant.spec_version,
            message=f"linked to subscription {subscription_id}{customer}",
        )
        session.execute(
            update(SubscriptionLedger)
            .where(SubscriptionLedger.id == subscription_id)
            .values(
                reconcile_status=SubscriptionStatus.PENDING.value,
                last_error=None,
                failures=0,
                retry_at=None,
                refused_for=None,
                updated_at=SubscriptionLedger.updated_at,
            )
        )
        session.flush()
        return _owner(owner)


def subscriptions(database: Database, *, problems_only: bool = False) -> list[SubscriptionView]:
    """Every subscription (or only those retrying or refused), by id."""
    query = select(SubscriptionLedger).order_by(SubscriptionLedger.id)
    if problems_only:
        query = query.where(
            SubscriptionLedger.reconcile_status.in_(
                [SubscriptionStatus.RETRYING.value, SubscriptionStatus.REFUSED.value]
            )
        )
    with database.transaction() as session:
        bound = owners(session)
        views = []
        for ledger in session.scalars(query):
            snapshot = SubscriptionState.model_validate(ledger.state).snapshot
            owner = bound.get(ledger.tenant_id) if ledger.tenant_id else None
            views.append(
                SubscriptionView(
                    subscription_id=ledger.id,
                    tenant_id=ledger.tenant_id,
                    customer_id=snapshot.customer_id if snapshot else None,
                    owns_tenant=owner is not None and owner.subscription_id == ledger.id,
                    status=ledger.reconcile_status,
                    last_error=ledger.last_error,
                    failures=ledger.failures,
                    retry_at=ledger.retry_at,
                    updated_at=ledger.updated_at,
                )
            )
        return views


def _owner(row: TenantOwner) -> Owner:
    return Owner(
        tenant_id=row.tenant_id,
        subscription_id=row.subscription_id,
        customer_id=row.customer_id,
        bound_by=row.bound_by,
        actor=row.actor,
        bound_at=row.bound_at,
    )
