"""`tenantctl plan`: the offline plan of one, several or every tenant stack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from planner.model import PlanFailure, PlannedResource, TenantPlan
from planner.program import plan_many
from planner.stacks import StackFiles, UnknownTenantError

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
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Plan every stack in stacks/.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    stacks_dir: Annotated[
        Path | None, typer.Option(help="Directory of the Pulumi.<tenant>.yaml files.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=0, help="Processes to plan in; 0 means one per CPU.")
    ] = 0,
) -> None:
    """Evaluate tenant stacks offline under the SDK's mocks: no CLI, no cloud, nothing created.

    Prints each tenant's resource tree (type, name, key inputs) with counts per type.
    """
    console = Console(emoji=False)
    errors = Console(stderr=True, emoji=False)
    files = StackFiles(stacks_dir)
    known = files.tenants()
    if all_tenants == bool(tenants):
        errors.print("[red]error:[/] name one or more tenants, or pass --all (not both).")
        errors.print(f"known tenants: {', '.join(known) or 'none'}")
        raise typer.Exit(2)
    selected = known if all_tenants else list(tenants or [])
    unknown = [t for t in selected if t not in known]
    if unknown:
        for tenant in unknown:
            errors.print(f"[red]error:[/] {escape(str(UnknownTenantError(tenant, known)))}")
        raise typer.Exit(2)

    results = plan_many([files.path(t) for t in selected], workers or os.cpu_count() or 1)
    plans = [r for r in results if isinstance(r, TenantPlan)]
    failures = [r for r in results if isinstance(r, PlanFailure)]

    if as_json:
        document: dict[str, Any] = {"tenants": [_plan_json(p) for p in plans]}
        if failures:
            document["errors"] = [f.model_dump() for f in failures]
        console.print_json(json.dumps(document, default=str))
    else:
        for tenant_plan in plans:
            _print_plan(console, tenant_plan)
    for failure in failures:
        errors.print(f"[red]error:[/] {escape(failure.error)}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def _plan_json(tenant_plan: TenantPlan) -> dict[str, Any]:
    return {
        "tenant": tenant_plan.tenant,
        "plan": tenant_plan.plan,
        "region": tenant_plan.region,
        "mode": "plan",
        "resource_count": len(tenant_plan.resources),
        "resources": [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs}
            for r in tenant_plan.resources
        ],
        "outputs": tenant_plan.stack_outputs,
        "warnings": tenant_plan.warnings,
    }


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
