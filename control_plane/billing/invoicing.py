"""Rating: a tenant's lifecycle segments and their metered usage -> an invoice.

A billing period is split into dated segments (plan, state, from, to). Each active segment
pays its plan's monthly price prorated by its days, and earns the plan's included usage
prorated the same way; usage beyond it is overage at the plan's rates. Suspended days pay
no base price and earn no included usage (storage is still kept and billed). The add-ons of
a segment (endpoint, phone lines, VPN sites, mail domain) pay their monthly fees the same way,
and their metered usage above what they include. Amounts are
`Decimal` in the plan's currency, each line rounded to cents half-up; the total is the sum
of the lines as shown.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.plans import ADDON_PRICING, ADDON_TITLES, AddonName, PlanName, PlanPricing, get_plan
from control_plane.billing.metering import MeteringWindow, MeterReading

CENT = Decimal("0.01")
_NUMBER = re.compile(r"^INV-(\d{4})(\d{2})-(\d{4,})$")


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded to cents, halves up (1.005 -> 1.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BillingPeriod(_Frozen):
    """A billing period: the days from `start` up to, not including, `end`."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} is not after its start {self.start}")
        return self

    @classmethod
    def month(cls, year: int, month: int) -> BillingPeriod:
        last = calendar.monthrange(year, month)[1]
        return cls(start=date(year, month, 1), end=date(year, month, last) + timedelta(days=1))

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """The calendar month `YYYY-MM`; a `ValueError` says what is expected."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"{text!r} is not a month like 2026-11")
        return cls.month(int(match.group(1)), int(match.group(2)))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.start:%d %b %Y} - {last:%d %b %Y}"

    def window(self, start: date | None = None, end: date | None = None) -> MeteringWindow:
        """The UTC time window of these days (or of a part of them)."""
        return MeteringWindow(_midnight(start or self.start), _midnight(end or self.end))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class SegmentState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Compute at zero for non-payment; data kept."""


class LifecycleSegment(_Frozen):
    """Days the tenant spent on one plan in one state: [start, end)."""

    plan: PlanName
    state: SegmentState
    start: date
    end: date
    addons: dict[AddonName, int] = Field(default_factory=dict)
    """Units of each add-on the tenant had (1 endpoint, N phone lines)."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"segment end {self.end} is not after its start {self.start}")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.start:%d %b} - {last:%d %b}"


class SegmentUsage(_Frozen):
    """A segment with what the tenant used during it."""

    segment: LifecycleSegment
    usage: MeterReading


class InvoiceLine(_Frozen):
    description: str
    quantity: Decimal
    """In `unit`s, rounded for display; `amount` is computed from the exact quantity."""
    unit: str
    unit_price: Decimal
    amount: Decimal
    """In cents, rounded half-up."""


class Invoice(_Frozen):
    number: str | None
    """`None` for a draft (a preview of a period that has not ended; never stored)."""
    tenant_id: str
    period: BillingPeriod
    plan: PlanName
    """The plan at the end of the period."""
    currency: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    issued_on: date

    @property
    def title(self) -> str:
        return f"Invoice {self.number}" if self.number else "Draft invoice (not issued)"


def invoice_number(period: BillingPeriod, sequence: int) -> str:
    """`INV-<yyyy><mm>-<seq>`, the sequence counting the invoices of the period's month."""
    if sequence < 1:
        raise ValueError(f"invoice sequence must be 1 or more, got {sequence}")
    return f"INV-{period.start:%Y%m}-{sequence:04d}"


def parse_invoice_number(number: str) -> tuple[int, int, int]:
    """(year, month, sequence) of an invoice number."""
    match = _NUMBER.fullmatch(number)
    if not match:
        raise ValueError(f"{number!r} is not an invoice number like INV-202611-0001")
    year, month, sequence = (int(g) for g in match.groups())
    return year, month, sequence


def _check_segments(period: BillingPeriod, segments: Sequence[SegmentUsage]) -> None:
    if not segments:
        raise ValueError("an invoice needs at least one lifecycle segment")
    previous_end = period.start
    for index, item in enumerate(segments):
        segment = item.segment
        where = f"segment {index} ({segment.start} to {segment.end})"
        if segment.start < period.start or segment.end > period.end:
            raise ValueError(f"{where} lies outside the period {period.start} to {period.end}")
        if segment.start < previous_end:
            raise ValueError(f"{where} overlaps the previous segment or is out of order")
        previous_end = segment.end


def _usage_lines(
    segment: LifecycleSegment, usage: MeterReading, period: BillingPeriod, pricing: PlanPricing
) -> list[InvoiceLine]:
    share = Decimal(segment.days) / Decimal(period.days)
    earns = segment.state is SegmentState.ACTIVE
    meters = (
        (
            "Instance-hours",
            "h",
            usage.instance_hours,
            pricing.included_instance_hours,
            pricing.instance_hour,
        ),
        (
            "Storage",
            "GB-month",
            usage.storage_gb_days / Decimal(period.days),
            pricing.included_storage_gb_months,
            pricing.storage_gb_month,
        ),
        ("Alarm-hours", "h", usage.alarm_hours, pricing.included_alarm_hours, pricing.alarm_hour),
    )
    lines = []
    for name, unit, used, included_per_period, rate in meters:
        included = included_per_period * share if earns else Decimal(0)
        overage = max(Decimal(0), used - included)
        if used == 0 and overage == 0:
            continue
        lines.append(
            InvoiceLine(
                description=(
                    f"{name} {segment.label}: {to_cents(used)} {unit} used, "
                    f"{to_cents(included)} included"
                ),
                quantity=to_cents(overage),
                unit=unit,
                unit_price=rate,
                amount=to_cents(overage * rate),
            )
        )
    return lines


def _addon_lines(
    segment: LifecycleSegment, usage: MeterReading, period: BillingPeriod
) -> list[InvoiceLine]:
    """Add-on fees prorated like the plan (not on suspended days), and usage above the
    included amounts; usage of an add-on is billed even when it was removed later."""
    share = Decimal(segment.days) / Decimal(period.days)
    active = segment.state is SegmentState.ACTIVE
    used_by_addon = {
        AddonName.ENDPOINT: usage.lcu_hours,
        AddonName.TELEPHONY: usage.call_minutes,
        AddonName.CONNECTIVITY: usage.vpn_connection_hours,
        AddonName.MAIL: usage.emails_sent / Decimal(1000),
    }
    lines = []
    for addon, pricing in ADDON_PRICING.items():
        units = segment.addons.get(addon, 0) if active else 0
        title = ADDON_TITLES[addon]
        if units:
            per_day = pricing.monthly_per_unit / Decimal(period.days)
            lines.append(
                InvoiceLine(
                    description=(
                        f"{title} {segment.label}: {units} {pricing.unit}"
                        f"{'s' if units != 1 else ''} ({segment.days} of {period.days} days)"
                    ),
                    quantity=Decimal(units * segment.days),
                    unit=f"{pricing.unit}-day",
                    unit_price=per_day.quantize(Decimal("0.0001")),
                    amount=to_cents(pricing.monthly_per_unit * units * share),
                )
            )
        used = used_by_addon[addon]
        included = pricing.included_usage_per_unit * units * share
        overage = max(Decimal(0), used - included)
        if used == 0:
            continue
        lines.append(
            InvoiceLine(
                description=(
                    f"{title} usage {segment.label}: {to_cents(used)} {pricing.usage_unit} used, "
                    f"{to_cents(included)} included"
                ),
                quantity=to_cents(overage),
                unit=pricing.usage_unit,
                unit_price=pricing.usage_price,
                amount=to_cents(overage * pricing.usage_price),
            )
        )
    return lines


def rate_invoice(
    *,
    number: str | None,
    tenant_id: str,
    period: BillingPeriod,
    segments: Sequence[SegmentUsage],
    issued_on: date,
) -> Invoice:
    """The invoice of `tenant_id` for `period` from its segments in date order (gaps, when
    the tenant did not exist, are not billed); `number=None` makes a draft."""
    if number is not None:
        parse_invoice_number(number)
    _check_segments(period, segments)
    currencies = {get_plan(s.segment.plan).pricing.currency for s in segments}
    if len(currencies) != 1:
        raise ValueError(f"segments are priced in several currencies: {sorted(currencies)}")
    lines: list[InvoiceLine] = []
    for item in segments:
        segment = item.segment
        plan = get_plan(segment.plan)
        pricing = plan.pricing
        days = Decimal(segment.days)
        if segment.state is SegmentState.ACTIVE:
            lines.append(
                InvoiceLine(
                    description=(
                        f"{plan.title} plan {segment.label} ({segment.days} of {period.days} days)"
                    ),
                    quantity=days,
                    unit="day",
                    unit_price=(pricing.monthly / Decimal(period.days)).quantize(Decimal("0.0001")),
                    amount=to_cents(pricing.monthly * days / Decimal(period.days)),
                )
            )
        else:
            lines.append(
                InvoiceLine(
                    description=(
                        f"{plan.title} plan {segment.label}: suspended, compute stopped, "
                        "data kept; not charged"
                    ),
                    quantity=days,
                    unit="day",
                    unit_price=Decimal("0.00"),
                    amount=Decimal("0.00"),
                )
            )
        lines.extend(_usage_lines(segment, item.usage, period, pricing))
        lines.extend(_addon_lines(segment, item.usage, period))
    credit = _service_credit(segments, period)
    if credit is not None:
        lines.append(credit)
    return Invoice(
        number=number,
        tenant_id=tenant_id,
        period=period,
        plan=segments[-1].segment.plan,
        currency=currencies.pop(),
        lines=tuple(lines),
        total=sum((line.amount for line in lines), Decimal("0.00")),
        issued_on=issued_on,
    )


def _service_credit(segments: Sequence[SegmentUsage], period: BillingPeriod) -> InvoiceLine | None:
    """The credit the plan promises when the period's measured availability misses its
    service level: a share of the base charges of the days the tenant was active."""
    plan = get_plan(segments[-1].segment.plan)
    level = plan.service_level
    active = [s for s in segments if s.segment.state is SegmentState.ACTIVE]
    measured = sum((s.usage.measured_minutes for s in active), Decimal(0))
    if level is None or measured == 0:
        return None
    available = sum((s.usage.available_minutes for s in active), Decimal(0))
    achieved = (available * 100 / measured).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    share = level.credit_percent(achieved)
    if share == 0:
        return None
    base = sum(
        (
            get_plan(s.segment.plan).pricing.monthly * Decimal(s.segment.days) / period.days
            for s in active
        ),
        Decimal(0),
    )
    amount = -to_cents(base * share / 100)
    return InvoiceLine(
        description=(
            f"Service credit: availability {achieved}% below the {plan.title} plan's "
            f"{level.availability_percent}% objective ({share}% of base charges)"
        ),
        quantity=Decimal(1),
        unit="credit",
        unit_price=amount,
        amount=amount,
    )
