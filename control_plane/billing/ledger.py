"""The subscription ledger: folds each event's intent into the subscription's billing state.

Deliveries arrive late, twice and out of order. The state keeps two registers, the latest
subscription snapshot and the latest payment outcome, each replaced only by an event
that is later in the `OrderKey` total order (created time, event-type rank, event id). An
ended subscription is final whatever arrives after. Every register is a maximum, so any
delivery order folds to the same state, and an old event never rolls a tenant back.

The tenant the state asks for (`desired`) also depends on the time: a failed payment
suspends the tenant once its grace period has passed. The action of one delivery is the
difference between the desired tenant before and after it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from components.plans import PlanName
from components.spec import Residency
from control_plane.billing.events import (
    Action,
    LifecycleIntent,
    OrderKey,
    PaymentFact,
    SubscriptionPhase,
    SubscriptionSnapshot,
)


class SubscriptionState(BaseModel):
    """Everything known about one subscription, folded from its events."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    snapshot: SubscriptionSnapshot | None = None
    snapshot_key: OrderKey | None = None
    payment: PaymentFact | None = None
    payment_key: OrderKey | None = None

    @property
    def tenant_id(self) -> str | None:
        return self.snapshot.tenant_id if self.snapshot else None


class TenantPhase(StrEnum):
    """What the subscription asks of its tenant."""

    NONE = "none"
    """No tenant yet (no snapshot, or the first payment is pending)."""
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"
    """Deprovisioned with its data retained."""


class DesiredTenant(BaseModel):
    """The tenant a subscription state asks for at a given time."""

    model_config = ConfigDict(frozen=True)

    phase: TenantPhase
    tenant_id: str | None = None
    display_name: str | None = None
    plan: PlanName | None = None
    quantity: int = 1
    region: str | None = None
    residency: Residency | None = None
    suspend_at: datetime | None = None
    """A pending suspension (failed payment inside its grace period)."""


class Decision(BaseModel):
    """The outcome of one delivery: the new state, and what to do to the tenant."""

    model_config = ConfigDict(frozen=True)

    state: SubscriptionState
    desired: DesiredTenant
    action: Action | None
    """`None` when the tenant is already as the event asks (stale, duplicate, no change)."""
    reason: str


def _snapshot_rank(snapshot: SubscriptionSnapshot, key: OrderKey) -> tuple[bool, OrderKey]:
    return (snapshot.phase is SubscriptionPhase.ENDED, key)


def _settled_since(state: SubscriptionState) -> bool:
    """A subscription snapshot newer than the failed payment says it is in good standing
    (the billing system marks it `past_due` while a payment is outstanding), so the failure
    no longer suspends even if the `invoice.paid` delivery is lost."""
    snapshot, key, payment_key = state.snapshot, state.snapshot_key, state.payment_key
    if snapshot is None or key is None or payment_key is None:
        return False
    return snapshot.status in ("active", "trialing") and key[0] > payment_key[0]


def desired(state: SubscriptionState | None, now: datetime) -> DesiredTenant:
    """The tenant `state` asks for at `now`."""
    snapshot = state.snapshot if state else None
    if snapshot is None or snapshot.phase is SubscriptionPhase.PENDING:
        return DesiredTenant(phase=TenantPhase.NONE)
    phase = {
        SubscriptionPhase.RUNNING: TenantPhase.ACTIVE,
        SubscriptionPhase.SUSPENDED: TenantPhase.SUSPENDED,
        SubscriptionPhase.ENDED: TenantPhase.RETIRED,
    }[snapshot.phase]
    suspend_at = None
    payment = state.payment if state else None
    if (
        phase is TenantPhase.ACTIVE
        and state is not None
        and payment is not None
        and payment.suspend_at is not None
        and not _settled_since(state)
    ):
        if payment.suspend_at <= now:
            phase = TenantPhase.SUSPENDED
        else:
            suspend_at = payment.suspend_at
    return DesiredTenant(
        phase=phase,
        tenant_id=snapshot.tenant_id,
        display_name=snapshot.display_name,
        plan=snapshot.plan,
        quantity=snapshot.quantity,
        region=snapshot.region,
        residency=snapshot.residency,
        suspend_at=suspend_at,
    )


def transition(before: DesiredTenant, after: DesiredTenant) -> Action | None:
    """The action that takes a tenant from `before` to `after` (`None`: nothing to do)."""
    if before == after:
        return None
    was, now = before.phase, after.phase
    if now is TenantPhase.RETIRED:
        return Action.DEPROVISION if was in (TenantPhase.ACTIVE, TenantPhase.SUSPENDED) else None
    if now is TenantPhase.NONE:
        return None
    if was is TenantPhase.NONE:
        return Action.PROVISION
    if was is TenantPhase.ACTIVE and now is TenantPhase.SUSPENDED:
        return Action.SUSPEND
    if was is TenantPhase.SUSPENDED and now is TenantPhase.ACTIVE:
        return Action.RESUME
    if (before.plan, before.quantity) != (after.plan, after.quantity):
        return Action.CHANGE_PLAN
    if before.suspend_at is None and after.suspend_at is not None:
        return Action.SCHEDULE_SUSPENSION
    if before.suspend_at is not None and after.suspend_at is None:
        return Action.CANCEL_SUSPENSION
    # Only descriptive fields changed (display name, a later grace deadline).
    return None


def _identity_conflict(old: SubscriptionSnapshot, new: SubscriptionSnapshot) -> str | None:
    for field in ("tenant_id", "region", "residency"):
        if getattr(old, field) != getattr(new, field):
            return (
                f"{field} cannot change on a subscription "
                f"({getattr(old, field)!r} -> {getattr(new, field)!r}); the event is not applied"
            )
    return None


def apply(state: SubscriptionState | None, intent: LifecycleIntent, now: datetime) -> Decision:
    """Fold `intent` into `state` at time `now` (the delivery time)."""
    old = state or SubscriptionState(subscription_id=intent.subscription_id)
    new = old
    notes: list[str] = []
    if intent.snapshot is not None:
        current, current_key = old.snapshot, old.snapshot_key
        replace = {"snapshot": intent.snapshot, "snapshot_key": intent.as_of}
        if current is None or current_key is None:
            new = new.model_copy(update=replace)
        elif conflict := _identity_conflict(current, intent.snapshot):
            notes.append(conflict)
        elif _snapshot_rank(intent.snapshot, intent.as_of) > _snapshot_rank(current, current_key):
            new = new.model_copy(update=replace)
        elif current.phase is SubscriptionPhase.ENDED:
            notes.append("the subscription has ended; later events cannot revive it")
        else:
            notes.append(f"a newer subscription event ({current_key[2]}) is already applied")
    if intent.payment is not None:
        if old.payment_key is None or intent.as_of > old.payment_key:
            new = new.model_copy(update={"payment": intent.payment, "payment_key": intent.as_of})
        else:
            notes.append(f"a newer payment event ({old.payment_key[2]}) is already applied")
    before = desired(state, now)
    after = desired(new, now)
    action = transition(before, after)
    if action is not None:
        reason = (
            f"{intent.event_type}: {action.value} ({before.phase.value} -> {after.phase.value})"
        )
    elif notes:
        reason = f"{intent.event_type} not applied: {'; '.join(notes)}"
    else:
        reason = f"{intent.event_type}: the tenant is already as asked ({after.phase.value})"
    return Decision(state=new, desired=after, action=action, reason=reason)
