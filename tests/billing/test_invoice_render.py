"""Rendering: the HTML invoice a customer receives and the terminal table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rich.console import Console

from control_plane.billing.invoicing import Invoice, rate_invoice
from control_plane.billing.render import invoice_html, invoice_table, invoice_text, money
from tests.billing.test_invoicing import NOVEMBER, UPGRADE_AND_SUSPENSION


def _invoice() -> Invoice:
    return rate_invoice(
        number="INV-202611-0007",
        tenant_id="acme",
        period=NOVEMBER,
        segments=UPGRADE_AND_SUSPENSION,
        issued_on=date(2026, 12, 1),
    )


def test_money_keeps_sub_cent_unit_prices() -> None:
    assert money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert money(Decimal("0.0300"), "USD") == "$0.03"
    assert money(Decimal("0.0125"), "USD") == "$0.0125"
    assert money(Decimal("10"), "CHF") == "CHF 10.00"


def test_the_html_invoice_shows_period_tenant_plan_lines_and_total() -> None:
    html = invoice_html(_invoice(), customer="Acme <GmbH>")
    assert "<title>Invoice INV-202611-0007 - Acme &lt;GmbH&gt;</title>" in html
    assert "01 Nov 2026 - 30 Nov 2026" in html
    assert "<span>Plan</span>Pro" in html
    assert "Starter plan 01 Nov - 14 Nov (14 of 30 days)" in html
    assert "$9.9667/day" in html
    assert "13.83 h" in html
    assert html.count("$155.45") == 2
    assert "suspended days are not charged" in html


def test_the_terminal_table_and_text_carry_every_line_and_the_total() -> None:
    invoice = _invoice()
    console = Console(width=160, record=True, color_system=None)
    console.print(invoice_table(invoice))
    table = console.export_text()
    text = invoice_text(invoice)
    for rendered in (table, text):
        assert "INV-202611-0007" in rendered
        assert "$155.45" in rendered
        for line in invoice.lines:
            assert line.description in rendered
    assert text.splitlines()[-1].endswith("$155.45")


def test_a_draft_is_marked_as_not_issued() -> None:
    draft = rate_invoice(
        number=None,
        tenant_id="acme",
        period=NOVEMBER,
        segments=UPGRADE_AND_SUSPENSION,
        issued_on=date(2026, 11, 25),
    )
    assert draft.title == "Draft invoice (not issued)"
    html = invoice_html(draft)
    assert "<h1>Draft invoice</h1>" in html
    assert "not issued: the period has not ended" in html
    assert invoice_text(draft).splitlines()[0] == "Draft invoice (not issued)"
