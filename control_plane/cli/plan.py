"""`tenantctl plan`: the offline plan of one, several or every tenant stack."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from control_plane.cli.environment import load_settings
from control_plane.cli.fleet import (
    FleetProgress,
    NoCacheOption,
    StacksDirOption,
    WorkersOption,
    no_stacks_message,
    open_plan_cache,
    report_reuse,
    stack_files,
)
from control_plane.settings import Settings
from planner.batch import plan_fleet
from planner.model import PlanFailure, PlannedResource, TenantPlan
from planner.stacks import UnknownTenantError

# Inputs worth showing in the tree, by resource type: enough to recognise each resource.
_KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "pulumi:providers:aws": ("region",),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType",),
    "aws:autoscaling/group:Group": ("minSize", "desiredCapacity", "maxSize"),
    "aws:autoscaling/schedule:Schedule": ("recurrence", "minSize", "desiredCapacity", "maxSize"),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:kms/key:Key": ("enableKeyRotation",),
    "aws:kms/alias:Alias": ("name",),
    "aws:iam/role:Role": ("name",),
    "aws:iam/policy:Policy": ("name",),
    "aws:dynamodb/table:Table": ("name", "billingMode"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "threshold"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:budgets/budget:Budget": ("limitAmount", "limitUnit"),
    "aws:sns/topic:Topic": ("name",),
    "aws:secretsmanager/secret:Secret": ("name",),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        "ipProtocol",
        "fromPort",
        "toPort",
        "cidrIpv4",
    ),
}


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


def plan(
    tenants: Annotated[
        list[str] | None, typer.Argument(help="Tenants to plan (stack names).", show_default=False)
    ] = None,
    *,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Plan every stack in the stacks directory.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Machine-readable output, one tenant per line (what check reads)."
        ),
    ] = False,
    stacks_dir: StacksDirOption = None,
    workers: WorkersOption = 0,
    no_cache: NoCacheOption = False,
) -> None:
    """Evaluate tenant stacks offline under the SDK's mocks: no CLI, no cloud, nothing created.

    Prints each tenant's resource tree (type, name, key inputs) with counts per type.
    """
    settings = load_settings(Settings)
    console = Console(emoji=False)
    errors = Console(stderr=True, emoji=False)
    files = stack_files(stacks_dir, settings)
    known = files.tenants()
    if all_tenants == bool(tenants):
        errors.print("[red]error:[/] name one or more tenants, or pass --all (not both).")
        errors.print(f"known tenants: {', '.join(known) or 'none'}")
        raise typer.Exit(2)
    if all_tenants and not known:
        errors.print(f"[red]error:[/] {escape(no_stacks_message(files))}", soft_wrap=True)
        raise typer.Exit(2)
    selected = known if all_tenants else list(tenants or [])
    unknown = [t for t in selected if t not in known]
    if unknown:
        for tenant in unknown:
            errors.print(f"[red]error:[/] {escape(str(UnknownTenantError(tenant, known)))}")
        raise typer.Exit(2)

    cache = open_plan_cache(settings, no_cache)
    failures: list[PlanFailure] = []
    progress = FleetProgress("planning")
    with (
        progress,
        plan_fleet(
            files.root, selected, cache=cache, workers=workers, on_progress=progress
        ) as plans,
    ):
        progress.close()
        report_reuse(plans.reused, len(selected), cache)
        if as_json:
            failures = _stream_json(plans)
        else:
            for result in plans:
                if isinstance(result, PlanFailure):
                    failures.append(result)
                else:
                    _print_plan(console, result)
    for failure in failures:
        errors.print(f"[red]error:[/] {escape(failure.error)}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def _stream_json(plans: Iterable[TenantPlan | PlanFailure]) -> list[PlanFailure]:
    """Write `{"tenants": [...], "errors": [...]}` one tenant per line, as plans are read:
    the fleet's document is never held whole. Returns the failures (listed last)."""
    out = sys.stdout
    failures: list[PlanFailure] = []
    separator = "\n"
    out.write('{"tenants": [')
    for result in plans:
        if isinstance(result, PlanFailure):
            failures.append(result)
            continue
        out.write(separator + json.dumps(result.to_document(), default=str))
        separator = ",\n"
    out.write("\n]")
    if failures:
        out.write(', "errors": ' + json.dumps([f.model_dump() for f in failures]))
    out.write("}\n")
    out.flush()
    return failures


def _print_plan(console: Console, tenant_plan: TenantPlan) -> None:
    title = (
        f"[bold]{tenant_plan.tenant}[/] · plan [cyan]{tenant_plan.plan}[/] · "
        f"{tenant_plan.region} · {len(tenant_plan.resources)} resources "
        "[yellow](offline plan: nothing was deployed)[/]"
    )
    root = Tree(title)
    nodes: dict[str | None, Tree] = {None: root}
    for resource in tenant_plan.resources:
        parent = nodes.get(resource.parent, root)
        nodes[resource.name] = parent.add(_label(resource))
    console.print(root)

    counts = Table(title=f"{tenant_plan.tenant}: resources by type", show_footer=True)
    counts.add_column("type", footer="total")
    counts.add_column("count", justify="right", footer=str(len(tenant_plan.resources)))
    for type_token, count in tenant_plan.counts_by_type().items():
        counts.add_row(type_token, str(count))
    console.print(counts)
    for warning in tenant_plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


def _label(resource: PlannedResource) -> str:
    shown = {
        key: resource.inputs[key]
        for key in _KEY_INPUTS.get(resource.type, ())
        if key in resource.inputs
    }
    details = " ".join(f"{k}={_short(v)}" for k, v in shown.items())
    flags = " [magenta]protected[/]" if resource.protect else ""
    return f"[dim]{resource.type}[/] [bold]{resource.name}[/]{flags} {details}".rstrip()


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "..."
