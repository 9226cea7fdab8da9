"""A tenant's lifecycle history, as the dated segments invoices are rated from.

The registry keeps every desired spec version with its time; each carries the plan and
whether compute is suspended. A change counts from the day it was made (the last change
of a day wins that day), and billing stops on the day deprovisioning was requested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from components.plans import AddonName, PlanName
from components.spec import AddonsSpec
from control_plane.billing.invoicing import BillingPeriod, LifecycleSegment, SegmentState
from control_plane.registry.models import Operation, TenantSpecVersion

DEPROVISION_REQUEST = "delete"
"""The operation-log action of a deprovision request."""


@dataclass(frozen=True)
class SpecChange:
    """From `at` on, the tenant runs `plan`, suspended or not."""

    at: datetime
    plan: PlanName
    suspended: bool
    addons: dict[AddonName, int] = field(default_factory=dict)
    """Units of each add-on from `at` on."""


@dataclass(frozen=True)
class TenantHistory:
    changes: tuple[SpecChange, ...]
    """In time order."""
    retired_at: datetime | None = None
    """When deprovisioning was requested."""


def segments_in_period(history: TenantHistory, period: BillingPeriod) -> list[LifecycleSegment]:
    """The segments of `period` the tenant existed in, in date order."""
    by_day: dict[date, SpecChange] = {}
    for change in sorted(history.changes, key=lambda c: c.at):
        by_day[change.at.date()] = change
    end_of_billing = period.end
    if history.retired_at is not None:
        end_of_billing = min(end_of_billing, history.retired_at.date())
    days = sorted(by_day)
    segments: list[LifecycleSegment] = []
    for index, day in enumerate(days):
        change = by_day[day]
        start = max(day, period.start)
        end = min(days[index + 1] if index + 1 < len(days) else period.end, end_of_billing)
        if start >= end:
            continue
        state = SegmentState.SUSPENDED if change.suspended else SegmentState.ACTIVE
        previous = segments[-1] if segments else None
        if previous and (previous.plan, previous.state, previous.end, previous.addons) == (
            change.plan,
            state,
            start,
            change.addons,
        ):
            segments[-1] = previous.model_copy(update={"end": end})
        else:
            segments.append(
                LifecycleSegment(
                    plan=change.plan, state=state, start=start, end=end, addons=change.addons
                )
            )
    return segments


def load_history(session: Session, tenant_id: str) -> TenantHistory:
    """The tenant's spec versions and deprovision request from the registry."""
    versions: Sequence[TenantSpecVersion] = session.scalars(
        select(TenantSpecVersion)
        .where(TenantSpecVersion.tenant_id == tenant_id)
        .order_by(TenantSpecVersion.version)
    ).all()
    changes = tuple(
        SpecChange(
            at=v.created_at,
            plan=PlanName(v.spec["plan"]),
            suspended=bool(v.spec.get("suspended", False)),
            addons=AddonsSpec.model_validate(v.spec.get("addons") or {}).units(),
        )
        for v in versions
    )
    retired_at = session.scalar(
        select(Operation.started_at)
        .where(Operation.tenant_id == tenant_id, Operation.action == DEPROVISION_REQUEST)
        .order_by(Operation.started_at.desc())
        .limit(1)
    )
    return TenantHistory(changes=changes, retired_at=retired_at)
