"""`tenantctl health|diagnose`: how the tenants' services are doing, and why one is not.

`health` joins the registry (state, last run, failing jobs, drift) with the states of each
tenant's CloudWatch alarms (read from the local sandbox when one runs, otherwise from the
AWS account the environment's credentials name). `diagnose` is the one report a support
engineer reads about a tenant, with the next step for each known failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape
from rich.table import Table

from control_plane.billing.invoice_book import NothingToBillError
from control_plane.billing.invoicing import BillingPeriod, LifecycleSegment
from control_plane.billing.metering import MeterReading, UsageMeter, tenant_groups
from control_plane.cli.context import JsonOption, out, print_json, registry, user_errors
from control_plane.cli.environment import fail
from control_plane.ops.diagnose import Diagnosis, Diagnostician
from control_plane.ops.health import HealthCheck, TenantHealth, Verdict, aws_cloudwatch
from control_plane.ops.service_levels import service_level_report
from control_plane.registry.repository import Registry
from planner.stacks import StackFiles

VERDICT_COLOURS = {
    Verdict.HEALTHY: "green",
    Verdict.DEGRADED: "yellow",
    Verdict.FAILING: "red",
    Verdict.INACTIVE: "dim",
    Verdict.UNKNOWN: "cyan",
}


def register(app: typer.Typer) -> None:
    app.command("health")(health)
    app.command("diagnose")(diagnose)
    app.command("slo")(slo)


@contextmanager
def _health_check() -> Iterator[HealthCheck]:
    with registry() as (settings, database), user_errors():
        cloudwatch, reason = aws_cloudwatch(settings.data_dir)
        yield HealthCheck(
            database, StackFiles(settings.stacks_dir), cloudwatch, no_aws_reason=reason
        )


def health(
    tenant: Annotated[str | None, typer.Argument(help="One tenant (default: the fleet).")] = None,
    *,
    as_json: JsonOption = False,
) -> None:
    """Alarm states, last run, failing jobs and drift, per tenant."""
    with _health_check() as check:
        report = [check.tenant(tenant)] if tenant else check.fleet()
    if as_json:
        print_json(report)
        return
    if not report:
        out.print("no tenants registered")
        return
    table = Table(title="tenant health")
    for column in ("tenant", "state", "health", "alarms", "last run", "problems"):
        table.add_column(column)
    for item in report:
        table.add_row(
            item.tenant_id,
            item.state,
            _verdict(item.verdict),
            _alarm_summary(item),
            _last_run(item),
            escape("\n".join(item.problems)) or "-",
        )
    out.print(table)
    notes = sorted({item.alarms_note for item in report if item.alarms is None})
    for note in notes:
        out.print(f"[yellow]{escape(note)}[/]")


def diagnose(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    *,
    as_json: JsonOption = False,
) -> None:
    """Everything support needs about one tenant, with suggested next steps."""
    with _health_check() as check:
        report = Diagnostician(check.database, check).diagnose(tenant)
    if as_json:
        print_json(report)
        return
    _print_diagnosis(report)


def _verdict(verdict: Verdict) -> str:
    return f"[{VERDICT_COLOURS[verdict]}]{verdict.value}[/]"


def _alarm_summary(item: TenantHealth) -> str:
    if item.alarms is None:
        return "not read"
    if not item.alarms:
        return "none"
    firing = sum(1 for a in item.alarms if a.state == "ALARM")
    return f"[red]{firing} ALARM[/] of {len(item.alarms)}" if firing else f"{len(item.alarms)} OK"


def _last_run(item: TenantHealth) -> str:
    run = item.last_run
    if run is None:
        return "-"
    mode = " (plan)" if run.mode == "plan" else ""
    return f"{run.action} {run.status}{mode}"


def _print_diagnosis(report: Diagnosis) -> None:
    health = report.health
    out.print(
        f"[bold]{report.tenant_id}[/]  plan {report.plan}, {report.region}, "
        f"state {escape(report.state)}, health {_verdict(health.verdict)}",
        highlight=False,
    )
    out.print(f"why: {escape(report.why)}", highlight=False)
    out.print("\n[bold]next steps[/]")
    for step in report.next_steps or ["none: nothing known is wrong"]:
        out.print(f"  - {escape(step)}", highlight=False)
    out.print("\n[bold]health[/]")
    if health.alarms is None:
        out.print(f"  alarms: {escape(health.alarms_note)}", highlight=False)
    for alarm in health.alarms or []:
        colour = "red" if alarm.state == "ALARM" else "green"
        out.print(
            f"  alarm {alarm.name}: [{colour}]{alarm.state}[/] {escape(alarm.reason)}",
            highlight=False,
        )
    for line in health.drift:
        out.print(f"  drift: {escape(line)}", highlight=False)
    for line in health.failing_jobs:
        out.print(f"  job: {escape(line)}", highlight=False)
    _print_quotas(report)
    out.print("\n[bold]last operations[/]")
    for op in report.operations:
        mode = f" ({op.mode})" if op.mode else ""
        out.print(
            f"  #{op.id} {op.started_at:%Y-%m-%d %H:%M} {op.action}{mode} by "
            f"{escape(op.actor)}: {op.status}",
            highlight=False,
        )
        if op.error:
            out.print(f"    error: {escape(op.error)}", highlight=False)
        for violation in op.policy_violations:
            out.print(f"    policy: {escape(violation)}", highlight=False)
        for line in op.engine_messages:
            out.print(f"    | {escape(line)}", highlight=False)
    out.print("\n[bold]billing[/]")
    if not report.billing:
        out.print("  no subscription names this tenant (created from the command line)")
    for sub in report.billing:
        pending = f", suspension at {sub.suspend_at:%Y-%m-%d %H:%M} UTC" if sub.suspend_at else ""
        out.print(
            f"  {sub.subscription_id}: {sub.status}, plan {sub.plan}, asks {sub.phase}, "
            f"{sub.payment}{pending}",
            highlight=False,
        )


def _print_quotas(report: Diagnosis) -> None:
    quotas = report.quotas
    out.print("\n[bold]quota use[/]")
    if quotas.cell is None:
        out.print(
            "  not placed in a cell: it deploys into the account of the control plane's "
            "credentials, whose quotas are not tracked",
            highlight=False,
        )
        return
    read = f", read {quotas.quotas_read_at:%Y-%m-%d}" if quotas.quotas_read_at else ""
    out.print(
        f"  cell {quotas.cell} (account {quotas.account_id}, {quotas.headroom_percent}% "
        f"headroom{read})",
        highlight=False,
    )
    for row in quotas.use:
        colour = "red" if row.used >= row.limit else "green"
        out.print(
            f"  {row.title} ({row.scope}): [{colour}]{row.used} of {row.limit}[/]",
            highlight=False,
        )


def slo(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    *,
    month: Annotated[str, typer.Option(help="The month, like 2026-11.")],
    as_json: JsonOption = False,
) -> None:
    """The month's achieved availability against the plan's objective, and the credit due."""
    try:
        period = BillingPeriod.parse(month)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--month") from None
    with registry() as (_settings, database), user_errors():
        with database.transaction() as session:
            region = Registry(session).spec(tenant).region
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        autoscaling = boto3.client("autoscaling", region_name=region)
        try:
            groups = tenant_groups(autoscaling, tenant)
            meter = UsageMeter(cloudwatch)

            def availability(segment: LifecycleSegment) -> MeterReading:
                measured, available = meter.availability(
                    groups, period.window(segment.start, segment.end)
                )
                return MeterReading(measured_minutes=measured, available_minutes=available)

            report = service_level_report(database, tenant, period, availability, date.today())
        except NothingToBillError as error:
            raise fail(str(error)) from None
        except (BotoCoreError, ClientError) as error:
            raise fail(
                f"reading availability of {tenant} failed: {error} (configure AWS credentials, "
                "or run `tenantctl sandbox`)"
            ) from None
    if as_json:
        print_json(report)
        return
    if report.objective_percent is None:
        out.print(f"{tenant}, {report.month}: plan {report.plan} is best effort (no objective)")
        return
    achieved = "not measured" if report.achieved_percent is None else f"{report.achieved_percent}%"
    verdict = "[green]met[/]" if report.met else "[red]missed[/]" if report.met is False else "-"
    out.print(
        f"{tenant}, {report.month}: availability {achieved} against {report.objective_percent}% "
        f"({report.plan}): {verdict}",
        highlight=False,
    )
    out.print(
        f"measured {report.measured_minutes} active minutes, {report.available_minutes} with "
        "an instance in service",
        highlight=False,
    )
    if report.credit_line:
        out.print(f"{report.credit_line}: {report.credit} {report.currency}", highlight=False)
