"""Issued invoices: numbered per month, one per tenant and period, stored for good.

Issuing is idempotent: asking again for a tenant and period returns the stored invoice,
so a rerun never bills twice or burns a number. Numbers are allocated inside the issuing
transaction (SQLite serialises writers; on PostgreSQL a racing issuer hits the unique
number and retries).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.billing.history import load_history, segments_in_period
from control_plane.billing.invoicing import (
    BillingPeriod,
    Invoice,
    LifecycleSegment,
    SegmentUsage,
    invoice_number,
    rate_invoice,
)
from control_plane.billing.metering import MeterReading
from control_plane.registry.billing_models import InvoiceRecord
from control_plane.registry.database import Database
from control_plane.registry.repository import Registry

UsageSource = Callable[[LifecycleSegment], MeterReading]
"""What the tenant used during one segment (a metering read, or nothing metered)."""
_ATTEMPTS = 3


class NothingToBillError(LookupError):
    """The tenant did not exist during the period."""


class PeriodNotOverError(ValueError):
    """The period has not ended: its usage is incomplete, so it can only be previewed."""


class InvoiceBook:
    """Issues and lists invoices in the registry database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def issue(
        self, tenant_id: str, period: BillingPeriod, usage: UsageSource, issued_on: date
    ) -> Invoice:
        """The tenant's invoice for `period`, rated and stored unless it already exists."""
        if period.end > issued_on:
            raise PeriodNotOverError(
                f"the period {period.label} ends on {period.end}; an invoice is issued once "
                f"it is over (preview it meanwhile)"
            )
        attempt = 1
        while True:
            try:
                with self._database.transaction() as session:
                    return self._issue(session, tenant_id, period, usage, issued_on)
            except IntegrityError:
                if attempt == _ATTEMPTS:
                    raise
                attempt += 1

    def preview(
        self, tenant_id: str, period: BillingPeriod, usage: UsageSource, today: date
    ) -> Invoice:
        """A draft of the tenant's invoice for `period` as things stand; nothing is stored."""
        with self._database.transaction() as session:
            segments = self._segments(session, tenant_id, period)
        return rate_invoice(
            number=None,
            tenant_id=tenant_id,
            period=period,
            segments=[SegmentUsage(segment=s, usage=usage(s)) for s in segments],
            issued_on=today,
        )

    @staticmethod
    def _segments(
        session: Session, tenant_id: str, period: BillingPeriod
    ) -> list[LifecycleSegment]:
        Registry(session).tenant(tenant_id)
        history = load_history(session, tenant_id)
        segments = segments_in_period(history, period)
        if not segments:
            lived = f"registered on {history.changes[0].at:%Y-%m-%d}" if history.changes else ""
            if lived and history.retired_at is not None:
                lived += f", retired on {history.retired_at:%Y-%m-%d}"
            raise NothingToBillError(
                f"tenant {tenant_id!r} did not exist in {period.label}"
                + (f" ({lived})" if lived else "")
                + ": nothing to bill for that month"
            )
        return segments

    def _issue(
        self,
        session: Session,
        tenant_id: str,
        period: BillingPeriod,
        usage: UsageSource,
        issued_on: date,
    ) -> Invoice:
        Registry(session).tenant(tenant_id)
        existing = session.scalars(
            select(InvoiceRecord).where(
                InvoiceRecord.tenant_id == tenant_id, InvoiceRecord.period_start == period.start
            )
        ).one_or_none()
        if existing is not None:
            return Invoice.model_validate(existing.document)
        segments = self._segments(session, tenant_id, period)
        prefix = f"INV-{period.start:%Y%m}-"
        issued_this_month = session.scalar(
            select(func.count()).where(InvoiceRecord.number.startswith(prefix))
        )
        invoice = rate_invoice(
            number=invoice_number(period, (issued_this_month or 0) + 1),
            tenant_id=tenant_id,
            period=period,
            segments=[SegmentUsage(segment=s, usage=usage(s)) for s in segments],
            issued_on=issued_on,
        )
        session.add(
            InvoiceRecord(
                number=invoice.number,
                tenant_id=tenant_id,
                period_start=period.start,
                period_end=period.end,
                currency=invoice.currency,
                total=invoice.total,
                document=invoice.model_dump(mode="json"),
            )
        )
        session.flush()
        return invoice

    def invoices(self, tenant_id: str) -> list[Invoice]:
        """The tenant's invoices, newest period first."""
        with self._database.transaction() as session:
            Registry(session).tenant(tenant_id)
            rows = session.scalars(
                select(InvoiceRecord)
                .where(InvoiceRecord.tenant_id == tenant_id)
                .order_by(InvoiceRecord.period_start.desc())
            ).all()
            return [Invoice.model_validate(r.document) for r in rows]
