"""`tenantctl check`: the offline pull-request gate over tenant stacks.

Plans each stack under the SDK's mocks, runs the policy pack's own policy objects on it,
adds fleet-wide checks, and exits 1 when any mandatory policy is violated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from planner.stacks import StackFiles, UnknownTenantError
from policies.config import PackConfig, PackConfigError, load_pack_config
from policies.fleet import CellQuotasError, read_cell_quotas
from policies.frameworks import Framework, parse_frameworks
from policies.pack import ALL_POLICIES
from policies.reports import ReportFormat, render
from policies.runner import CheckResult, check_plan_file, check_stacks


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def _fail_usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


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
            help="Also check a saved plan (TenantPlan JSON); repeatable. Fleet checks do not "
            "apply to plan files.",
            show_default=False,
        ),
    ] = None,
    stacks_dir: Annotated[
        Path | None, typer.Option(help="Directory of the Pulumi.<tenant>.yaml files.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=0, help="Processes to check in; 0 means one per CPU.")
    ] = 0,
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
    files = StackFiles(stacks_dir)
    known = files.tenants()
    if all_tenants and tenants:
        _fail_usage("name tenants or pass --all, not both")
    if not (all_tenants or tenants or plan_files):
        listing = ", ".join(known) or "none"
        _fail_usage(f"name one or more tenants, pass --all or --plan-file; known: {listing}")
    selected = known if all_tenants else list(tenants or [])
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
    result = check_stacks(files.root, selected, workers=workers, pack_config=pack, cells=cells)
    if plan_files:
        try:
            extra = [check_plan_file(path, pack) for path in plan_files]
        except (OSError, ValidationError) as error:
            _fail_usage(f"cannot read plan file: {error}")
        result = CheckResult((*result.tenants, *extra))
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
