"""Plan claims: how a tenant crosses between the free plan (no subscription) and a paid one
(a subscription) through billing.

Up: the reconciler refuses a subscription event naming an existing tenant it did not
create, so a subscription made elsewhere cannot take a tenant over. The one exception is a
claim made here by a user allowed to change the tenant's plan: its unguessable id travels
in the checkout's metadata (`upgrade_claim`), and a subscription event that carries it back
for the same tenant and plan before the claim expires binds the tenant to that subscription
and moves it to the plan, in one transaction that also consumes the claim.

Down: a claim for the free plan names the subscription the user's request cancelled; when
that subscription's end arrives, the tenant moves to the free plan and leaves the
subscription instead of being retired. It does not expire: the subscription it names was
cancelled here, so nothing else can answer for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from components.plans import PlanName
from control_plane.billing.subscriptions import BindingBy
from control_plane.registry.billing_models import PlanClaim, TenantOwner

CLAIM_LIFETIME = timedelta(hours=24)
"""As long as the billing system keeps a checkout session open by default."""
CLAIM_PREFIX = "upg_"


class ClaimOpenError(ValueError):
    """The tenant has an open plan claim already; the message says which and until when."""


class ClaimUsedError(RuntimeError):
    """The claim was consumed between reading and binding (the next pass sees the owner)."""


@dataclass(frozen=True)
class PlanClaimView:
    id: str
    tenant_id: str
    plan: PlanName
    actor: str
    user_id: int | None
    created_at: datetime
    expires_at: datetime
    checkout_session_id: str | None
    subscription_id: str | None
    """The subscription a downgrade leaves, or the one an upgrade joined."""


def open_claim(session: Session, tenant_id: str, now: datetime) -> PlanClaimView | None:
    """The tenant's unconsumed, unexpired claim (the caller holds the tenant's row lock)."""
    row = session.scalar(
        select(PlanClaim)
        .where(
            PlanClaim.tenant_id == tenant_id,
            PlanClaim.consumed_at.is_(None),
            PlanClaim.expires_at > now,
        )
        .order_by(PlanClaim.created_at.desc())
        .limit(1)
    )
    return None if row is None else _view(row)


def add_claim(
    session: Session,
    tenant_id: str,
    plan: PlanName,
    *,
    actor: str,
    user_id: int | None,
    now: datetime,
    leaving: str | None = None,
) -> PlanClaimView:
    """Record a claim (a downgrade names the subscription it is `leaving`); `ClaimOpenError`
    while another one is open (expired ones are ignored). The caller holds the tenant's row
    lock, so two requests cannot both find none."""
    held = open_claim(session, tenant_id, now)
    if held is not None:
        raise ClaimOpenError(waiting_message(held))
    row = PlanClaim(
        id=CLAIM_PREFIX + secrets.token_urlsafe(24),
        tenant_id=tenant_id,
        plan=plan.value,
        actor=actor,
        user_id=user_id,
        created_at=now,
        expires_at=now + CLAIM_LIFETIME,
        subscription_id=leaving,
    )
    session.add(row)
    session.flush()
    return _view(row)


def waiting_message(claim: PlanClaimView) -> str:
    """Why the tenant's plan cannot be changed again while `claim` is open."""
    return (
        f"plan: tenant {claim.tenant_id!r} already waits for billing to move it to plan "
        f"{claim.plan.value!r} (asked by {claim.actor} at {claim.created_at:%Y-%m-%d %H:%M} "
        f"UTC); wait for that or ask again after {claim.expires_at:%Y-%m-%d %H:%M} UTC"
    )


def record_checkout(session: Session, claim_id: str, checkout_session_id: str) -> None:
    row = session.get(PlanClaim, claim_id)
    if row is not None:
        row.checkout_session_id = checkout_session_id


def drop_claim(session: Session, claim_id: str) -> None:
    """Forget a claim whose checkout could not be started."""
    row = session.get(PlanClaim, claim_id)
    if row is not None:
        session.delete(row)


def matching_claim(
    session: Session, claim_id: str, tenant_id: str, plan: PlanName, now: datetime
) -> PlanClaimView | None:
    """The claim an upgrade event names, if it is open and for this tenant and paid plan."""
    row = session.get(PlanClaim, claim_id)
    if (
        row is None
        or plan is PlanName.FREE
        or row.consumed_at is not None
        or row.expires_at <= now
        or row.tenant_id != tenant_id
        or row.plan != plan.value
    ):
        return None
    return _view(row)


def bind_upgraded(
    session: Session,
    claim: PlanClaimView,
    subscription_id: str,
    customer_id: str | None,
    now: datetime,
) -> None:
    """Consume the claim and bind its tenant to the subscription (in the plan change's
    transaction); raises when the claim was consumed meanwhile, which rolls both back."""
    row = session.get(PlanClaim, claim.id, with_for_update=True)
    if row is None or row.consumed_at is not None:
        raise ClaimUsedError(f"plan claim for tenant {claim.tenant_id!r} is already used")
    row.consumed_at = now
    row.subscription_id = subscription_id
    session.add(
        TenantOwner(
            tenant_id=claim.tenant_id,
            subscription_id=subscription_id,
            customer_id=customer_id,
            bound_by=BindingBy.UPGRADED.value,
            actor=claim.actor,
        )
    )


def downgrade_claim(session: Session, subscription_id: str, tenant_id: str) -> PlanClaimView | None:
    """The unconsumed claim to keep the tenant on the free plan when `subscription_id` ends."""
    row = session.scalar(
        select(PlanClaim)
        .where(
            PlanClaim.tenant_id == tenant_id,
            PlanClaim.subscription_id == subscription_id,
            PlanClaim.plan == PlanName.FREE.value,
            PlanClaim.consumed_at.is_(None),
        )
        .order_by(PlanClaim.created_at.desc())
        .limit(1)
    )
    return None if row is None else _view(row)


def released(session: Session, subscription_id: str, tenant_id: str) -> bool:
    """Whether the tenant left `subscription_id` for the free plan (its end asks nothing)."""
    found = session.scalar(
        select(PlanClaim.id)
        .where(
            PlanClaim.tenant_id == tenant_id,
            PlanClaim.subscription_id == subscription_id,
            PlanClaim.plan == PlanName.FREE.value,
            PlanClaim.consumed_at.is_not(None),
        )
        .limit(1)
    )
    return found is not None


def unbind_downgraded(session: Session, claim: PlanClaimView, now: datetime) -> None:
    """Consume the claim and free its tenant from the subscription it leaves (in the plan
    change's transaction); raises when either changed meanwhile, which rolls both back."""
    row = session.get(PlanClaim, claim.id, with_for_update=True)
    owner = session.get(TenantOwner, claim.tenant_id, with_for_update=True)
    if row is None or row.consumed_at is not None:
        raise ClaimUsedError(f"plan claim for tenant {claim.tenant_id!r} is already used")
    if owner is None or owner.subscription_id != claim.subscription_id:
        raise ClaimUsedError(
            f"tenant {claim.tenant_id!r} no longer belongs to subscription {claim.subscription_id}"
        )
    row.consumed_at = now
    session.delete(owner)


def _view(row: PlanClaim) -> PlanClaimView:
    return PlanClaimView(
        id=row.id,
        tenant_id=row.tenant_id,
        plan=PlanName(row.plan),
        actor=row.actor,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        checkout_session_id=row.checkout_session_id,
        subscription_id=row.subscription_id,
    )
