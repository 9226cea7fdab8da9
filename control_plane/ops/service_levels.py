"""The monthly service-level report of a tenant: achieved availability against its plan's
objective, and the credit a miss gives (the same line its invoice carries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from components.plans import get_plan
from control_plane.billing.invoice_book import InvoiceBook
from control_plane.billing.invoicing import BillingPeriod, LifecycleSegment, SegmentState
from control_plane.billing.metering import MeterReading
from control_plane.registry.database import Database

Availability = Callable[[LifecycleSegment], MeterReading]
"""Measured and available minutes of one lifecycle segment."""


@dataclass(frozen=True)
class ServiceLevelReport:
    tenant_id: str
    month: str
    plan: str
    objective_percent: Decimal | None
    """None: the plan is best effort."""
    measured_minutes: Decimal
    """Minutes the tenant was active in the month (suspended days are not measured)."""
    available_minutes: Decimal
    achieved_percent: Decimal | None
    met: bool | None
    credit: Decimal
    """Negative: what the invoice credits; zero when the objective was met."""
    credit_line: str | None
    currency: str


def service_level_report(
    database: Database,
    tenant_id: str,
    period: BillingPeriod,
    availability: Availability,
    today: date,
) -> ServiceLevelReport:
    measured: list[MeterReading] = []

    def usage(segment: LifecycleSegment) -> MeterReading:
        if segment.state is not SegmentState.ACTIVE:
            return MeterReading()
        reading = availability(segment)
        measured.append(reading)
        return reading

    draft = InvoiceBook(database).preview(tenant_id, period, usage, today)
    total = sum((r.measured_minutes for r in measured), Decimal(0))
    available = sum((r.available_minutes for r in measured), Decimal(0))
    level = get_plan(draft.plan).service_level
    achieved = (
        (available * 100 / total).quantize(Decimal("0.001"), rounding=ROUND_DOWN) if total else None
    )
    credits = [line for line in draft.lines if line.unit == "credit"]
    return ServiceLevelReport(
        tenant_id=tenant_id,
        month=period.label,
        plan=draft.plan.value,
        objective_percent=level.availability_percent if level else None,
        measured_minutes=total,
        available_minutes=available,
        achieved_percent=achieved,
        met=None if level is None or achieved is None else achieved >= level.availability_percent,
        credit=credits[0].amount if credits else Decimal("0.00"),
        credit_line=credits[0].description if credits else None,
        currency=draft.currency,
    )
