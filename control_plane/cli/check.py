"""`tenantctl check`: the offline pull-request gate over tenant stacks.

Plans each stack under the SDK's mocks, runs the policy pack's own policy objects on it,
adds fleet-wide checks, and exits 1 when any mandatory policy is violated.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, NoReturn

import typer

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
from planner.cache import collector_paused
from planner.changes import ChangesError, changed_since
from planner.stacks import StackFiles, UnknownTenantError
from policies.config import PackConfig, PackConfigError, load_pack_config
from policies.fleet import CellQuotasError, read_cell_quotas
from policies.frameworks import Framework, parse_frameworks
from policies.gate import Finding
from policies.pack import ALL_POLICIES
from policies.reports import ReportFormat, render
from policies.runner import CheckResult, check_plan_file, check_stacks


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def _fail_usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _unsynced_findings(settings: Settings, files: StackFiles, selected: list[str]) -> list[Finding]:
    """Stack files edited by hand and not synced. The registry's code is imported only
    here: a gate with no registry never loads it."""
    from control_plane.ops.unsynced import unsynced_stack_findings  # noqa: PLC0415
    from control_plane.registry.database import RegistryUnavailableError  # noqa: PLC0415

    try:
        return unsynced_stack_findings(settings, files, selected)
    except RegistryUnavailableError as error:
        _fail_usage(
            f"registry database unavailable: {error}; unset TENANTS_DATABASE_URL to check the "
            "stack files without comparing them with the registry"
        )


def check(
    tenants: Annotated[
        list[str] | None,
        typer.Argument(help="Tenants to check (stack names).", show_default=False),
    ] = None,
    *,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Check every stack in the stacks directory.")
    ] = False,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.TEXT,
    frameworks: Annotated[
        str | None,
        typer.Option(
            help="Per-framework control summary: comma-separated "
            f"({', '.join(f.value for f in Framework)}) or 'all'.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    policy_config: Annotated[
        Path | None,
        typer.Option(
            help="Pack config JSON, as for `pulumi preview --policy-pack-config`.",
            show_default=False,
        ),
    ] = None,
    plan_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--plan-file",
            help="Also check a saved plan: what `tenantctl plan --json` writes (one tenant or "
            "the fleet) or one TenantPlan; repeatable. Fleet checks do not apply to plan files.",
            show_default=False,
        ),
    ] = None,
    changed_since_ref: Annotated[
        str | None,
        typer.Option(
            "--changed-since",
            metavar="REF",
            help="Check only the stacks changed since this git revision (every stack when "
            "components/, planner/, policies/ or __main__.py changed); fleet checks still "
            "read every stack.",
            show_default=False,
        ),
    ] = None,
    stacks_dir: StacksDirOption = None,
    workers: WorkersOption = 0,
    no_cache: NoCacheOption = False,
    cells_file: Annotated[
        Path | None,
        typer.Option(
            "--cells",
            help="Cell quotas (`tenantctl cells list --json`): checked stacks are counted "
            "against their cells' quotas.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check tenant stacks against the compliance pack offline: no CLI, no cloud.

    Exit status: 0 when no mandatory policy is violated, 1 when one is, 2 on usage errors.
    """
    settings = load_settings(Settings)
    files = stack_files(stacks_dir, settings)
    known = files.tenants()
    if tenants and (all_tenants or changed_since_ref is not None):
        _fail_usage("name tenants, or pass --all or --changed-since, not both")
    if not (all_tenants or tenants or plan_files or changed_since_ref is not None):
        listing = ", ".join(known) or "none"
        _fail_usage(
            "name one or more tenants, pass --all, --changed-since or --plan-file; "
            f"known: {listing}"
        )
    if (all_tenants or changed_since_ref is not None) and not known:
        _fail_usage(no_stacks_message(files))
    selected = known if all_tenants else list(tenants or [])
    if changed_since_ref is not None:
        try:
            changes = changed_since(changed_since_ref, files.root)
        except ChangesError as error:
            _fail_usage(str(error))
        selected = known if changes.code else [t for t in changes.stacks if t in known]
        typer.echo(changes.summary(len(selected)), err=True)
    unknown = [t for t in selected if t not in known]
    if unknown:
        _fail_usage("; ".join(str(UnknownTenantError(t, known)) for t in unknown))
    chosen: tuple[Framework, ...] = ()
    if frameworks is not None:
        try:
            chosen = parse_frameworks(frameworks)
        except ValueError as error:
            _fail_usage(str(error))
    pack = PackConfig()
    if policy_config is not None:
        try:
            pack = load_pack_config(policy_config, ALL_POLICIES)
        except PackConfigError as error:
            _fail_usage(str(error))
    cells = None
    if cells_file is not None:
        try:
            cells = read_cell_quotas(cells_file)
        except CellQuotasError as error:
            _fail_usage(str(error))
    extra = []
    for path in plan_files or []:
        try:
            extra.extend(check_plan_file(path, pack))
        except (OSError, ValueError) as error:
            _fail_usage(f"cannot read plan file {path}: {error}")

    unsynced = _unsynced_findings(settings, files, selected) if settings.registry_configured else []

    cache = open_plan_cache(settings, no_cache)
    with FleetProgress("checking") as progress:
        result = check_stacks(
            files.root,
            selected,
            workers=workers,
            pack_config=pack,
            cache=cache,
            on_progress=progress,
            cells=cells,
        )
    report_reuse(result.reused, len(selected), cache)
    if unsynced:
        result = CheckResult(
            tuple(
                replace(r, findings=(*r.findings, *(f for f in unsynced if f.tenant == r.tenant)))
                for r in result.tenants
            ),
            result.reused,
        )
    if extra:
        result = CheckResult((*result.tenants, *extra), result.reused)
    with collector_paused():  # thousands of reports: acyclic data, freed as it goes
        report = render(result, fmt, chosen)
    if output is None:
        typer.echo(report, nl=False)
    else:
        output.write_text(report)
        failed = [r.tenant for r in result.tenants if not r.passed]
        verdict = f"failed: {', '.join(failed)}" if failed else "passed"
        typer.echo(
            f"{len(result.tenants)} tenant(s) checked, {verdict}; report: {output}", err=True
        )
    raise typer.Exit(0 if result.passed else 1)
