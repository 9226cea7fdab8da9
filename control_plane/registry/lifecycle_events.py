"""Every committed change of a tenant's lifecycle becomes one `LifecycleEvent` row.

Recorded in the flush of the transaction that changes `Tenant.state`, whichever use case
or worker made the change: an event exists exactly when the change was committed, a
rolled-back (or fenced-off) change leaves none, and no code path can forget to publish.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from control_plane.registry.event_models import LifecycleEvent
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant

EVENT_TYPES = ("created", "provisioned", "updated", "suspended", "resumed", "failed", "retired")
"""The published lifecycle changes; in-progress states (updating, ...) are not events."""

MAX_DETAIL_CHARS = 2000

S = TenantState


def event_type(previous: str | None, state: str, *, last_settled: str | None) -> str | None:
    """The event a change from `previous` to `state` publishes, or None for none.

    `last_settled` is the tenant's latest published event type: an `updating -> active`
    change after a suspension is a resume, otherwise an update.
    """
    if previous is None:
        return "created"
    if state == S.ACTIVE:
        if previous == S.PROVISIONING:
            return "provisioned"
        return "resumed" if last_settled == "suspended" else "updated"
    named = {S.SUSPENDED: "suspended", S.FAILED: "failed", S.RETIRED: "retired"}
    return named.get(TenantState(state))


def record_lifecycle_events(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush` hook: add an event for each tenant whose state changes in this flush."""
    for tenant in [*session.new, *session.dirty]:
        if not isinstance(tenant, Tenant):
            continue
        history = inspect(tenant).attrs.state.history
        if not history.added:
            continue
        previous = history.deleted[0] if history.deleted else None
        if previous == tenant.state:
            continue
        with session.no_autoflush:
            last_settled = session.scalar(
                select(LifecycleEvent.type)
                .where(LifecycleEvent.tenant_id == tenant.id)
                .order_by(LifecycleEvent.id.desc())
                .limit(1)
            )
        kind = event_type(previous, tenant.state, last_settled=last_settled)
        if kind is None:
            continue
        detail = {}
        if kind == "failed" and tenant.last_error:
            detail["error"] = tenant.last_error[:MAX_DETAIL_CHARS]
        session.add(
            LifecycleEvent(
                tenant_id=tenant.id,
                type=kind,
                state=tenant.state,
                previous_state=previous,
                plan=tenant.plan,
                detail=detail,
            )
        )
