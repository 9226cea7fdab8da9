"""`tenantctl drift`: list drift, ask for a check now, or repair a drifted tenant.

Drift checks run as queued jobs: long-running workers schedule one per deployed tenant
every `TENANTS_DRIFT_INTERVAL` (with the Automation runner a read-only `preview_refresh`;
offline, the last plan against the desired spec), and `--check` asks for one now. The
listing also shows what differs between the registry, the stack file and what was last
applied. `--repair` queues an `up` of the desired spec, which puts drifted resources back.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from control_plane.cli.context import (
    ActorOption,
    JsonOption,
    actor_name,
    out,
    print_json,
    registry,
    user_errors,
)
from control_plane.cli.environment import fail
from control_plane.ops.drift import DriftReport, TenantDrift
from control_plane.queue.jobs import JobKind
from control_plane.service import TenantService
from planner.stacks import StackFiles


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)


def drift(
    tenant: Annotated[str | None, typer.Argument(help="One tenant (default: the fleet).")] = None,
    *,
    check: Annotated[
        bool, typer.Option("--check", help="Queue a drift check of TENANT now.")
    ] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Queue an `up` of TENANT's desired spec.")
    ] = False,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drifted resources from the last check, and registry, stack file and applied spec
    differences."""
    if check and repair:
        raise fail("pass --check or --repair, not both", code=2)
    with registry() as (settings, database), user_errors():
        if check or repair:
            if tenant is None:
                raise fail("--check and --repair need a TENANT", code=2)
            service = TenantService(database, settings)
            kind = JobKind.DRIFT if check else JobKind.UP
            accepted = service.run(tenant, kind, actor=actor_name(actor))
            if as_json:
                print_json(accepted)
            else:
                what = "drift check" if check else "repair (an `up` of the desired spec)"
                out.print(
                    f"[bold]{tenant}[/]: {what}: {escape(accepted.message)}; run it with "
                    "`tenantctl worker --drain`",
                    highlight=False,
                    soft_wrap=True,
                )
            return
        report = DriftReport(database, StackFiles(settings.stacks_dir))
        found = [report.tenant(tenant)] if tenant else report.fleet()
    if as_json:
        print_json([_document(item) for item in found])
    elif not found:
        out.print("no tenants registered")
    else:
        for item in found:
            _print(item)


def _document(item: TenantDrift) -> dict[str, object]:
    return {
        "tenant_id": item.tenant_id,
        "state": item.state,
        "drifted": item.drifted,
        "checked_at": item.checked_at,
        "mode": item.mode,
        "operation_id": item.operation_id,
        "resources": item.resources,
        "differences": item.differences,
    }


def _print(item: TenantDrift) -> None:
    verdict = "[yellow]drifted[/]" if item.drifted else "[green]no drift[/]"
    if item.checked_at is None:
        checked = "no drift check since the last `up`"
    else:
        how = "preview_refresh" if item.mode == "deploy" else "offline, against the last plan"
        checked = f"checked {item.checked_at:%Y-%m-%d %H:%M} UTC ({how})"
    out.print(
        f"[bold]{item.tenant_id}[/] ({item.state}): {verdict}; {checked}",
        highlight=False,
        soft_wrap=True,
    )
    for resource in item.resources:
        out.print(f"  resource: {escape(resource.line())}", highlight=False, soft_wrap=True)
    for line in item.differences:
        out.print(f"  spec: {escape(line)}", highlight=False, soft_wrap=True)
    if item.resources:
        out.print(
            f"  repair: `tenantctl drift --repair {item.tenant_id}` queues an `up`",
            highlight=False,
        )
