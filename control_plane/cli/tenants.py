"""`tenantctl tenants`: create, list, show, update, suspend, resume and delete tenants.

Requests are recorded and queued; `tenantctl worker` (or `--wait` on the stack commands)
runs them. Every change rewrites the tenant's `stacks/Pulumi.<tenant>.yaml` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from components.plans import PlanName
from components.spec import SUPPORTED_REGIONS, Residency, residency_of
from components.stack_config import RefusedYamlError, load_spec_yaml, read_spec_yaml
from control_plane.cli.context import (
    ActorOption,
    JsonOption,
    actor_name,
    mode_label,
    out,
    print_json,
    service,
    state_label,
)
from control_plane.cli.environment import fail
from control_plane.service import Accepted, InvalidSpecError, TenantView

tenants_app = typer.Typer(
    name="tenants",
    help="Register tenants and change what they should run (queued for the worker).",
    no_args_is_help=True,
)

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Spec field as dotted.path=value (YAML value), e.g. compute.max_size=4; repeatable.",
        show_default=False,
    ),
]
SpecFileOption = Annotated[
    Path | None,
    typer.Option(help="YAML file with (part of) a TenantSpec.", exists=True, dir_okay=False),
]


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """`a.b=1` pairs as a nested mapping, values read as YAML."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        path, sep, raw = assignment.partition("=")
        if not sep or not path.strip():
            raise InvalidSpecError(
                f"--set {assignment!r} is not dotted.path=value (e.g. compute.max_size=4)"
            )
        try:
            value = load_spec_yaml(raw) if raw else None
        except yaml.YAMLError as error:
            raise InvalidSpecError(f"--set {assignment!r}: value is not YAML: {error}") from None
        keys = path.strip().split(".")
        node = changes
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise InvalidSpecError(f"--set {assignment!r} conflicts with an earlier --set")
            node = child
        node[keys[-1]] = value
    return changes


def read_spec_file(path: Path) -> dict[str, Any]:
    try:
        document = read_spec_yaml(path)
    except RefusedYamlError as error:
        raise InvalidSpecError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise InvalidSpecError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise InvalidSpecError(f"{path} must hold a mapping of TenantSpec fields")
    return document


def _residency_of(region: str) -> str:
    residency = residency_of(region)
    if residency is None:
        known = ", ".join(SUPPORTED_REGIONS)
        raise InvalidSpecError(f"region {region!r} is not supported; known regions: {known}")
    return residency.value


@tenants_app.command("create")
def create(
    tenant: Annotated[str, typer.Argument(help="Tenant id: a DNS-safe slug, 3-20 characters.")],
    *,
    plan: Annotated[PlanName | None, typer.Option(help="Subscribed plan.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region, e.g. eu-west-1.")] = None,
    residency: Annotated[
        Residency | None, typer.Option(help="Data residency (derived from the region if left out).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Human name of the customer.")] = None,
    contact: Annotated[
        list[str] | None, typer.Option(help="Alarm e-mail address; repeatable.")
    ] = None,
    network: Annotated[
        str | None, typer.Option(help="VPC CIDR; a free block of the pool when left out.")
    ] = None,
    spec_file: SpecFileOption = None,
    assignments: SetOption = None,
    from_stack: Annotated[
        bool, typer.Option("--from-stack", help="Register the existing stacks/ file as is.")
    ] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a tenant, allocate its network, write its stack file and queue its provision."""
    with service() as tenants:
        if from_stack:
            given = [plan, region, residency, display_name, contact, network, spec_file]
            if any(v is not None for v in given) or assignments:
                raise fail(
                    "--from-stack takes the whole spec from the stack file; drop the "
                    "other spec options (or edit the file)",
                    code=2,
                )
            accepted = tenants.register_stack(tenant, actor=actor_name(actor))
        else:
            data: dict[str, Any] = read_spec_file(spec_file) if spec_file else {}
            data["tenant_id"] = tenant
            for key, value in (("plan", plan), ("region", region), ("display_name", display_name)):
                if value is not None:
                    data[key] = value.value if isinstance(value, PlanName) else value
            if residency is not None:
                data["residency"] = residency.value
            elif "residency" not in data and "region" in data:
                data["residency"] = _residency_of(str(data["region"]))
            if network is not None:
                data.setdefault("network", {})["cidr"] = network
            if contact:
                data.setdefault("alarms", {})["contacts"] = contact
            data = _merge(data, parse_assignments(assignments or []))
            accepted = tenants.create(data, actor=actor_name(actor))
        view = tenants.show(tenant)
        stack_file = tenants.stacks.path(tenant)
    if as_json:
        print_json({"request": accepted, "tenant": view, "stack_file": str(stack_file)})
        return
    _print_accepted(accepted)
    verb = "registered" if from_stack else "written"
    out.print(
        f"network [bold]{view.cidr}[/], stack file {verb}: {escape(str(stack_file))}",
        soft_wrap=True,  # a path broken over lines cannot be copied
    )


@tenants_app.command("list")
def list_tenants(as_json: JsonOption = False) -> None:
    """Every tenant with its plan, state, network and queued work."""
    with service() as tenants:
        views = tenants.tenants()
    if as_json:
        print_json(views)
        return
    table = Table(title="tenants")
    for column in ("tenant", "plan", "state", "network", "spec", "queued", "last error"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.tenant_id,
            view.plan,
            state_label(view.display_state),
            view.cidr or "-",
            f"v{view.spec_version}",
            ", ".join(f"{j['kind']}#{j['id']}" for j in view.pending_jobs) or "-",
            escape(_clip(view.last_error or "")),
        )
    out.print(table if views else "no tenants yet: `tenantctl tenants create TENANT ...`")


@tenants_app.command("show")
def show(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    as_json: JsonOption = False,
) -> None:
    """One tenant: state, spec, outputs of its last run, queued work and recent history."""
    with service() as tenants:
        view = tenants.show(tenant)
        recent = tenants.history(tenant, limit=5)
    if as_json:
        print_json({"tenant": view, "recent_operations": recent})
        return
    print_tenant(view)
    table = Table(title="recent operations (tenantctl history for more)")
    for column in ("#", "when", "action", "mode", "status", "by"):
        table.add_column(column)
    for op in recent:
        table.add_row(
            str(op.id),
            f"{op.started_at:%Y-%m-%d %H:%M:%S}",
            op.action,
            mode_label(op.mode),
            op.status,
            escape(op.actor),
        )
    out.print(table)


def print_tenant(view: TenantView) -> None:
    lines = [
        f"state     {state_label(view.display_state)}",
        f"plan      {view.plan}",
        f"network   {view.cidr or '-'}",
        f"spec      v{view.spec_version}",
    ]
    if view.last_run_mode == "plan":
        lines.append("[yellow]only offline plans so far: nothing of this tenant is deployed[/]")
    if view.last_error:
        lines.append(f"[red]last error[/] {escape(view.last_error)}")
    if view.pending_jobs:
        queued = ", ".join(f"{j['kind']}#{j['id']} ({j['status']})" for j in view.pending_jobs)
        lines.append(f"queued    {queued}")
    title = f"[bold]{view.tenant_id}[/]" + (
        f" · {escape(view.display_name)}" if view.display_name else ""
    )
    out.print(Panel("\n".join(lines), title=title, expand=False))
    out.print("[bold]desired spec[/]")
    out.print(escape(yaml.safe_dump(view.spec, sort_keys=False).rstrip()))
    if view.outputs:
        heading = (
            "[bold]planned outputs[/] [yellow](plan: nothing deployed)[/]"
            if view.last_run_mode == "plan"
            else "[bold]outputs[/]"
        )
        out.print(heading)
        out.print(escape(yaml.safe_dump(view.outputs, sort_keys=True).rstrip()))
    if view.retained:
        out.print(f"[bold]retained data stores[/] {escape(', '.join(view.retained))}")


@tenants_app.command("update")
def update(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    *,
    plan: Annotated[PlanName | None, typer.Option(help="Move to this plan.")] = None,
    spec_file: SpecFileOption = None,
    assignments: SetOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the desired spec (plan, capacity, storage, ...) and queue an `up`.

    Queued, not yet running, updates of the tenant are superseded by this one.
    """
    with service() as tenants:
        changes: dict[str, Any] = read_spec_file(spec_file) if spec_file else {}
        changes = _merge(changes, parse_assignments(assignments or []))
        if plan is not None and not changes:
            accepted = tenants.change_plan(tenant, plan, actor=actor_name(actor))
        else:
            if plan is not None:
                changes["plan"] = plan.value
            if not changes:
                raise fail("nothing to change: pass --plan, --set or --spec-file", code=2)
            accepted = tenants.update(tenant, changes, actor=actor_name(actor))
    _report(accepted, as_json)


@tenants_app.command("suspend")
def suspend(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "suspend",
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Scale the tenant's compute to zero; every byte of data is kept."""
    with service() as tenants:
        accepted = tenants.suspend(tenant, actor=actor_name(actor), reason=reason)
    _report(accepted, as_json)


@tenants_app.command("resume")
def resume(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring a suspended tenant's compute back to its spec's capacity."""
    with service() as tenants:
        accepted = tenants.resume(tenant, actor=actor_name(actor))
    _report(accepted, as_json)


@tenants_app.command("delete")
def delete(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    purge: Annotated[
        bool, typer.Option(help="Also delete buckets, keys and tables (irreversible).")
    ] = False,
    confirm: Annotated[
        str | None,
        typer.Option(help="The tenant id again, to confirm --purge without a prompt."),
    ] = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deprovision the tenant. Data stores are retained (and listed) unless --purge."""
    if purge and confirm is None:
        confirm = typer.prompt(
            f"--purge deletes every data store of {tenant} for good; type the tenant id to confirm",
            default="",
            show_default=False,
        )
    with service() as tenants:
        accepted = tenants.delete(tenant, actor=actor_name(actor), purge=purge, confirm=confirm)
    _report(accepted, as_json)


def _report(accepted: Accepted, as_json: bool) -> None:
    if as_json:
        print_json(accepted)
    else:
        _print_accepted(accepted)


def _print_accepted(accepted: Accepted) -> None:
    job = f"job {accepted.job_id}" if accepted.job_id is not None else "no job"
    out.print(
        f"[bold]{accepted.tenant_id}[/]: {escape(accepted.message)}\n"
        f"state {state_label(accepted.state)} · spec v{accepted.spec_version} · {job}"
        + ("\nrun it with `tenantctl worker --drain`" if accepted.job_id is not None else "")
    )


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
