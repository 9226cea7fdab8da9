"""`tenantctl invoices TENANT`: issue a tenant's invoice for a month and show its invoices.

Invoices are rated from the tenant's lifecycle history in the registry (plan changes and
suspensions prorated by day) and, with `--meter`, from usage read with boto3 from the
tenant's resources (`AWS_ENDPOINT_URL` points it at the local sandbox).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import boto3
import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from rich.table import Table

from control_plane.billing.invoice_book import (
    InvoiceBook,
    NothingToBillError,
    PeriodNotOverError,
    UsageSource,
)
from control_plane.billing.invoicing import BillingPeriod, Invoice, LifecycleSegment
from control_plane.billing.metering import (
    MeterReading,
    TenantResources,
    UsageMeter,
    discover_resources,
)
from control_plane.billing.render import invoice_html, invoice_table, money
from control_plane.cli.context import JsonOption, out, print_json, registry, user_errors
from control_plane.cli.environment import fail
from control_plane.registry.database import Database
from control_plane.registry.repository import Registry


def register(app: typer.Typer) -> None:
    app.command("invoices")(invoices)


def _period(text: str) -> BillingPeriod:
    try:
        return BillingPeriod.parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _metered(database: Database, tenant_id: str, period: BillingPeriod) -> UsageSource:
    """Usage read from the tenant's AWS resources, found on the first segment rated (so a
    month the tenant did not exist in is refused before AWS is asked anything)."""
    with database.transaction() as session:
        spec = Registry(session).spec(tenant_id)
    region = spec.region
    found: list[tuple[UsageMeter, TenantResources]] = []

    def usage(segment: LifecycleSegment) -> MeterReading:
        if not found:
            # A session of its own, so credentials are resolved for this command and not
            # taken from whatever boto3's process-wide default session cached earlier.
            aws = boto3.Session(region_name=region)
            cloudwatch = aws.client("cloudwatch")
            # Add-on services are asked only for tenants that have them (Connect is not
            # everywhere).
            addons = spec.addons
            connect = aws.client("connect") if addons.telephony else None
            resources = discover_resources(
                tenant_id,
                autoscaling=aws.client("autoscaling"),
                s3=aws.client("s3"),
                cloudwatch=cloudwatch,
                elbv2=aws.client("elbv2") if addons.endpoint else None,
                connect=connect,
                ec2=aws.client("ec2") if addons.connectivity else None,
                sesv2=aws.client("sesv2") if addons.mail else None,
            )
            found.append((UsageMeter(cloudwatch, connect), resources))
        meter, resources = found[0]
        return meter.measure(resources, period.window(segment.start, segment.end))

    return usage


def _unmetered(_segment: LifecycleSegment) -> MeterReading:
    return MeterReading()


def invoices(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    *,
    issue: Annotated[
        str | None,
        typer.Option(
            "--issue", metavar="YYYY-MM", help="Rate and store the invoice of this month first."
        ),
    ] = None,
    preview: Annotated[
        str | None,
        typer.Option(
            "--preview",
            metavar="YYYY-MM",
            help="Show a draft of this month's invoice as things stand (nothing is stored).",
        ),
    ] = None,
    meter: Annotated[
        bool,
        typer.Option(
            "--meter/--no-meter",
            help="Read usage from the tenant's AWS resources (otherwise base prices only).",
        ),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the shown invoice as an HTML page to this file.", dir_okay=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Issue (--issue) or preview (--preview) a month's invoice, and show a tenant's invoices."""
    if issue is not None and preview is not None:
        raise fail("use either --issue or --preview")
    month = issue or preview
    chosen: Invoice | None = None
    with registry() as (_settings, database), user_errors():
        book = InvoiceBook(database)
        if month is not None:
            period = _period(month)
            today = datetime.now(UTC).date()
            try:
                usage = _metered(database, tenant, period) if meter else _unmetered
                if issue is not None:
                    chosen = book.issue(tenant, period, usage, issued_on=today)
                else:
                    chosen = book.preview(tenant, period, usage, today=today)
            except (NothingToBillError, PeriodNotOverError) as error:
                raise fail(str(error)) from None
            except (NoCredentialsError, PartialCredentialsError, NoRegionError) as error:
                raise fail(
                    f"--meter reads usage from AWS, but {error}: set AWS credentials "
                    "(AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run "
                    "`tenantctl sandbox` and export the AWS_ENDPOINT_URL it prints"
                ) from None
            except EndpointConnectionError as error:
                raise fail(
                    f"--meter cannot reach AWS ({error}); is `tenantctl sandbox` running, or "
                    "AWS_ENDPOINT_URL pointing at it? Leave out --meter for base prices only"
                ) from None
            except (BotoCoreError, ClientError) as error:
                raise fail(f"metering {tenant} failed: {error}") from None
        stored = book.invoices(tenant)
    if as_json:
        shown_list = [chosen] if chosen is not None and chosen.number is None else stored
        print_json([i.model_dump(mode="json") for i in shown_list])
        return
    if not stored and chosen is None:
        out.print(f"no invoices for {tenant} yet; issue one with --issue YYYY-MM")
        return
    summary = Table(title=f"invoices of {tenant}")
    for column in ("number", "period", "plan", "total", "issued"):
        summary.add_column(column, justify="right" if column == "total" else "left")
    for invoice in stored:
        summary.add_row(
            invoice.number or "-",
            invoice.period.label,
            invoice.plan.value,
            money(invoice.total, invoice.currency),
            f"{invoice.issued_on:%Y-%m-%d}",
        )
    if stored:
        out.print(summary)
    shown = chosen or stored[0]
    out.print(invoice_table(shown))
    if month is not None and not meter:
        out.print("[yellow]usage not metered (--meter reads it from AWS): base prices only[/]")
    if html is not None:
        html.write_text(invoice_html(shown), encoding="utf-8")
        out.print(f"HTML invoice written to {html}")
