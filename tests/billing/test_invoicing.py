"""Invoices with exact amounts: proration of plan changes and suspensions, overage, rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from components.plans import PlanName
from control_plane.billing.invoicing import (
    BillingPeriod,
    LifecycleSegment,
    SegmentState,
    SegmentUsage,
    invoice_number,
    parse_invoice_number,
    rate_invoice,
    to_cents,
)
from control_plane.billing.metering import MeterReading

NOVEMBER = BillingPeriod.month(2026, 11)
ACTIVE, SUSPENDED = SegmentState.ACTIVE, SegmentState.SUSPENDED


def _segment(
    plan: PlanName, state: SegmentState, start: int, end: tuple[int, int], **usage: str
) -> SegmentUsage:
    return SegmentUsage(
        segment=LifecycleSegment(
            plan=plan, state=state, start=date(2026, 11, start), end=date(2026, *end)
        ),
        usage=MeterReading(**{k: Decimal(v) for k, v in usage.items()}),
    )


UPGRADE_AND_SUSPENSION = [
    _segment(
        PlanName.STARTER,
        ACTIVE,
        1,
        (11, 15),
        instance_hours="600",
        storage_gb_days="600",
        alarm_hours="10",
    ),
    _segment(
        PlanName.PRO,
        ACTIVE,
        15,
        (11, 20),
        instance_hours="500.5",
        storage_gb_days="3000",
        alarm_hours="9",
    ),
    _segment(PlanName.PRO, SUSPENDED, 20, (11, 23), storage_gb_days="300"),
    _segment(PlanName.PRO, ACTIVE, 23, (12, 1), instance_hours="384.5", storage_gb_days="800"),
]
"""Starter for 14 days, then Pro; suspended for 3 days for non-payment, then resumed."""


def test_a_mid_period_upgrade_and_a_suspension_are_prorated_exactly() -> None:
    invoice = rate_invoice(
        number="INV-202611-0007",
        tenant_id="acme",
        period=NOVEMBER,
        segments=UPGRADE_AND_SUSPENSION,
        issued_on=date(2026, 12, 1),
    )
    assert [(line.description, line.quantity, line.amount) for line in invoice.lines] == [
        ("Starter plan 01 Nov - 14 Nov (14 of 30 days)", Decimal(14), Decimal("22.87")),
        ("Instance-hours 01 Nov - 14 Nov: 600.00 h used, 700.00 included", 0, Decimal("0.00")),
        ("Storage 01 Nov - 14 Nov: 20.00 GB-month used, 23.33 included", 0, Decimal("0.00")),
        ("Alarm-hours 01 Nov - 14 Nov: 10.00 h used, 11.20 included", 0, Decimal("0.00")),
        ("Pro plan 15 Nov - 19 Nov (5 of 30 days)", Decimal(5), Decimal("49.83")),
        (
            "Instance-hours 15 Nov - 19 Nov: 500.50 h used, 486.67 included",
            Decimal("13.83"),
            Decimal("0.69"),
        ),
        (
            "Storage 15 Nov - 19 Nov: 100.00 GB-month used, 83.33 included",
            Decimal("16.67"),
            Decimal("0.83"),
        ),
        ("Alarm-hours 15 Nov - 19 Nov: 9.00 h used, 8.00 included", 1, Decimal("1.00")),
        (
            "Pro plan 20 Nov - 22 Nov: suspended, compute stopped, data kept; not charged",
            Decimal(3),
            Decimal("0.00"),
        ),
        ("Storage 20 Nov - 22 Nov: 10.00 GB-month used, 0.00 included", 10, Decimal("0.50")),
        ("Pro plan 23 Nov - 30 Nov (8 of 30 days)", Decimal(8), Decimal("79.73")),
        ("Instance-hours 23 Nov - 30 Nov: 384.50 h used, 778.67 included", 0, Decimal("0.00")),
        ("Storage 23 Nov - 30 Nov: 26.67 GB-month used, 133.33 included", 0, Decimal("0.00")),
    ]
    assert invoice.total == Decimal("155.45")
    assert invoice.total == sum(line.amount for line in invoice.lines)
    assert (invoice.currency, invoice.plan) == ("USD", PlanName.PRO)
    pro_base = invoice.lines[4]
    assert (pro_base.unit, pro_base.unit_price) == ("day", Decimal("9.9667"))


def test_a_full_month_on_one_plan_costs_the_monthly_price() -> None:
    segment = _segment(PlanName.ENTERPRISE, ACTIVE, 1, (12, 1), instance_hours="8000")
    invoice = rate_invoice(
        number="INV-202611-0001",
        tenant_id="acme",
        period=NOVEMBER,
        segments=[segment],
        issued_on=date(2026, 12, 1),
    )
    assert invoice.total == Decimal("1999.00")


def test_half_cents_round_up() -> None:
    # 0.25 h over the free plan's 750 h at 0.02 is 0.005: half-up gives a cent, half-even none.
    segment = _segment(PlanName.FREE, ACTIVE, 1, (12, 1), instance_hours="750.25")
    invoice = rate_invoice(
        number="INV-202611-0002",
        tenant_id="acme",
        period=NOVEMBER,
        segments=[segment],
        issued_on=date(2026, 12, 1),
    )
    assert [line.amount for line in invoice.lines] == [Decimal("0.00"), Decimal("0.01")]
    assert invoice.total == Decimal("0.01")
    assert to_cents(Decimal("2.675")) == Decimal("2.68")


def test_days_before_the_tenant_existed_are_not_billed() -> None:
    segment = _segment(PlanName.PRO, ACTIVE, 16, (12, 1))
    invoice = rate_invoice(
        number="INV-202611-0003",
        tenant_id="acme",
        period=NOVEMBER,
        segments=[segment],
        issued_on=date(2026, 12, 1),
    )
    assert invoice.total == Decimal("149.50")


def test_a_31_day_month_prorates_by_31() -> None:
    october = BillingPeriod.month(2026, 10)
    assert (october.days, october.label) == (31, "01 Oct 2026 - 31 Oct 2026")
    segment = SegmentUsage(
        segment=LifecycleSegment(
            plan=PlanName.STARTER, state=ACTIVE, start=date(2026, 10, 1), end=date(2026, 10, 11)
        ),
        usage=MeterReading(),
    )
    invoice = rate_invoice(
        number="INV-202610-0001",
        tenant_id="acme",
        period=october,
        segments=[segment],
        issued_on=date(2026, 11, 1),
    )
    assert invoice.total == Decimal("15.81")  # 49 * 10 / 31 = 15.806...


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "at least one lifecycle segment"),
        (
            [_segment(PlanName.PRO, ACTIVE, 1, (12, 2))],
            r"segment 0 \(2026-11-01 to 2026-12-02\) lies outside the period",
        ),
        (
            [
                _segment(PlanName.PRO, ACTIVE, 1, (11, 10)),
                _segment(PlanName.PRO, ACTIVE, 5, (11, 20)),
            ],
            r"segment 1 \(2026-11-05 to 2026-11-20\) overlaps the previous segment",
        ),
    ],
)
def test_bad_segments_are_refused(segments: list[SegmentUsage], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate_invoice(
            number="INV-202611-0001",
            tenant_id="acme",
            period=NOVEMBER,
            segments=segments,
            issued_on=date(2026, 12, 1),
        )


def test_a_segment_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="segment end 2026-11-03 is not after its start"):
        LifecycleSegment(
            plan=PlanName.PRO, state=ACTIVE, start=date(2026, 11, 3), end=date(2026, 11, 3)
        )


def test_invoice_numbers() -> None:
    assert invoice_number(NOVEMBER, 1) == "INV-202611-0001"
    assert invoice_number(NOVEMBER, 12345) == "INV-202611-12345"
    assert parse_invoice_number("INV-202611-0042") == (2026, 11, 42)
    with pytest.raises(ValueError, match="sequence must be 1 or more"):
        invoice_number(NOVEMBER, 0)
    with pytest.raises(ValueError, match="'INV-2026-1' is not an invoice number"):
        parse_invoice_number("INV-2026-1")
