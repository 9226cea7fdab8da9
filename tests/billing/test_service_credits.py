"""Service levels: availability measured from in-service instances (seeded in moto), and
the credit a missed objective gives as an invoice line, with exact amounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.plans import PlanName, get_plan
from control_plane.billing.invoicing import (
    BillingPeriod,
    LifecycleSegment,
    SegmentState,
    SegmentUsage,
    rate_invoice,
)
from control_plane.billing.metering import MeteringWindow, MeterReading, UsageMeter
from tests.billing.test_metering import _seed_instances

NOVEMBER = BillingPeriod.month(2026, 11)
MONTH_MINUTES = Decimal(30 * 24 * 60)
FIVE_MINUTES = timedelta(minutes=5)


def _usage(
    plan: PlanName, available_percent: str, state: SegmentState = SegmentState.ACTIVE
) -> SegmentUsage:
    measured = MONTH_MINUTES
    return SegmentUsage(
        segment=LifecycleSegment(
            plan=plan, state=state, start=date(2026, 11, 1), end=date(2026, 12, 1)
        ),
        usage=MeterReading(
            measured_minutes=measured,
            available_minutes=measured * Decimal(available_percent) / 100,
        ),
    )


def _credit(segments: list[SegmentUsage]) -> Decimal | None:
    invoice = rate_invoice(
        number=None,
        tenant_id="acme",
        period=NOVEMBER,
        segments=segments,
        issued_on=date(2026, 12, 1),
    )
    credits = [line for line in invoice.lines if line.unit == "credit"]
    assert len(credits) <= 1
    if credits:
        assert invoice.total == sum(line.amount for line in invoice.lines)
    return credits[0].amount if credits else None


@pytest.mark.parametrize(
    ("plan", "available", "credit"),
    [
        (PlanName.PRO, "99.95", None),  # objective met
        (PlanName.PRO, "99.9", None),  # exactly the objective
        (PlanName.PRO, "99.8", Decimal("-29.90")),  # 10% of $299
        (PlanName.PRO, "99.4", Decimal("-74.75")),  # 25%
        (PlanName.PRO, "98", Decimal("-149.50")),  # 50%
        (PlanName.STARTER, "99.2", Decimal("-4.90")),  # 10% of $49
        (PlanName.ENTERPRISE, "99.92", Decimal("-199.90")),  # 10% of $1999
        (PlanName.FREE, "50", None),  # best effort: no objective, no credit
    ],
)
def test_a_missed_objective_credits_what_the_plan_promises(
    plan: PlanName, available: str, credit: Decimal | None
) -> None:
    assert _credit([_usage(plan, available)]) == credit


def test_unmetered_availability_gives_no_credit() -> None:
    segment = _usage(PlanName.PRO, "0")
    unmetered = SegmentUsage(segment=segment.segment, usage=MeterReading())
    assert _credit([unmetered]) is None


def test_the_credit_covers_only_active_days() -> None:
    active = SegmentUsage(
        segment=LifecycleSegment(
            plan=PlanName.PRO,
            state=SegmentState.ACTIVE,
            start=date(2026, 11, 1),
            end=date(2026, 11, 16),
        ),
        usage=MeterReading(measured_minutes=Decimal(21600), available_minutes=Decimal(21500)),
    )
    suspended = SegmentUsage(
        segment=LifecycleSegment(
            plan=PlanName.PRO,
            state=SegmentState.SUSPENDED,
            start=date(2026, 11, 16),
            end=date(2026, 12, 1),
        ),
        usage=MeterReading(),
    )
    # 15 of 30 days at $299 = $149.50 charged; availability 99.537% < 99.9% -> 10% credit.
    assert _credit([active, suspended]) == Decimal("-14.95")


def test_detection_follows_the_error_budget() -> None:
    pro = get_plan(PlanName.PRO).service_level
    assert pro is not None
    assert pro.detection_minutes == 2  # 43.2 minutes of budget a month / 20
    assert pro.credit_percent(Decimal("99.899")) == Decimal(10)
    assert pro.credit_percent(Decimal("99.9")) == Decimal(0)


# -- measured from CloudWatch ------------------------------------------------------------


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def test_availability_counts_intervals_with_an_instance_in_service(cloudwatch: Any) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    values: list[float | None] = [2.0] * 288  # one day of five-minute intervals
    values[10] = 0.0  # an outage
    values[11] = 0.0
    values[100] = None  # no datapoint: counted as unavailable
    values[200] = 1.0  # one instance is enough
    _seed_instances(cloudwatch, "acme-asg", start, values, FIVE_MINUTES)

    measured, available = UsageMeter(cloudwatch).availability(
        ["acme-asg"], MeteringWindow(start, start + timedelta(days=1))
    )

    assert measured == Decimal(1440)
    assert available == Decimal(1440 - 3 * 5)


def test_measured_availability_becomes_an_exact_credit(cloudwatch: Any) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    values: list[float | None] = [1.0] * (30 * 288)
    for slot in range(1000, 1013):  # 13 intervals = 65 minutes down: 99.849%
        values[slot] = 0.0
    _seed_instances(cloudwatch, "acme-asg", start, values, FIVE_MINUTES)
    measured, available = UsageMeter(cloudwatch).availability(
        ["acme-asg"], MeteringWindow(start, start + timedelta(days=30))
    )
    segment = SegmentUsage(
        segment=LifecycleSegment(
            plan=PlanName.PRO,
            state=SegmentState.ACTIVE,
            start=date(2026, 11, 1),
            end=date(2026, 12, 1),
        ),
        usage=MeterReading(measured_minutes=measured, available_minutes=available),
    )
    invoice = rate_invoice(
        number=None,
        tenant_id="acme",
        period=NOVEMBER,
        segments=[segment],
        issued_on=date(2026, 12, 1),
    )
    [credit] = [line for line in invoice.lines if line.unit == "credit"]
    assert credit.description == (
        "Service credit: availability 99.849% below the Pro plan's 99.9% objective "
        "(10% of base charges)"
    )
    assert credit.amount == Decimal("-29.90")
    assert invoice.total == Decimal("269.10")
