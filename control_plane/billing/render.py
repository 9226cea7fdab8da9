"""Invoices for people: an HTML document to send, and a table for the terminal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from rich.table import Table

from components.plans import get_plan
from control_plane.billing.invoicing import Invoice, InvoiceLine

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(amount: Decimal, currency: str) -> str:
    """`$1,234.50`; sub-cent unit prices keep their digits (`$0.0300`)."""
    symbol = _SYMBOLS.get(currency, f"{currency} ")
    exponent = amount.normalize().as_tuple().exponent
    digits = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{symbol}{amount:,.{digits}f}"


def quantity(line: InvoiceLine) -> str:
    units = "days" if line.unit == "day" and line.quantity != 1 else line.unit
    return f"{line.quantity.normalize():,f} {units}"


def invoice_html(invoice: Invoice, customer: str | None = None) -> str:
    """The invoice as a standalone HTML page."""
    template = _TEMPLATES.get_template("invoice.html.j2")
    return template.render(
        invoice=invoice,
        customer=customer or invoice.tenant_id,
        plan_title=get_plan(invoice.plan).title,
        money=lambda amount: money(amount, invoice.currency),
        quantity=quantity,
    )


def invoice_table(invoice: Invoice) -> Table:
    """The invoice lines as a Rich table with the total in the footer."""
    table = Table(
        title=f"{invoice.title} - {invoice.tenant_id} - {invoice.period.label}",
        show_footer=True,
        title_justify="left",
    )
    table.add_column("Description", footer=f"Total ({invoice.currency})")
    table.add_column("Quantity", justify="right")
    table.add_column("Unit price", justify="right")
    table.add_column("Amount", justify="right", footer=money(invoice.total, invoice.currency))
    for line in invoice.lines:
        table.add_row(
            line.description,
            quantity(line),
            f"{money(line.unit_price, invoice.currency)}/{line.unit}",
            money(line.amount, invoice.currency),
        )
    return table


def invoice_text(invoice: Invoice) -> str:
    """The invoice as plain text (e-mail bodies, logs)."""
    width = max(len(line.description) for line in invoice.lines)
    rows = [
        invoice.title,
        f"Tenant  {invoice.tenant_id}",
        f"Period  {invoice.period.label}",
        f"Plan    {get_plan(invoice.plan).title}",
        "",
    ]
    for line in invoice.lines:
        rows.append(
            f"{line.description:<{width}}  {quantity(line):>14}  "
            f"{money(line.amount, invoice.currency):>12}"
        )
    rows.append(
        f"{'Total (' + invoice.currency + ')':<{width}}  {'':>14}  "
        f"{money(invoice.total, invoice.currency):>12}"
    )
    return "\n".join(rows)
