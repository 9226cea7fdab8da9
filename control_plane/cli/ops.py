"""`tenantctl up|preview|refresh|history|worker|status`: stack operations and the fleet.

`up`, `preview` and `refresh` queue a job for the tenant (one stack operation per tenant
at a time); `--wait` follows it until a worker has run it. Results from the offline
runner are plans and are always labelled as such.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from control_plane.billing.subscriptions import subscriptions
from control_plane.cli.billing import subscription_line
from control_plane.cli.context import (
    ActorOption,
    JsonOption,
    actor_name,
    mode_label,
    out,
    print_json,
    registry,
    service,
    state_label,
    user_errors,
)
from control_plane.cli.environment import fail
from control_plane.logs import configure_for
from control_plane.queue.jobs import JobKind, JobQueue, JobStatus
from control_plane.queue.worker import JobOutcome, run_processes, run_threads
from control_plane.registry.repository import OperationStatus
from control_plane.runners.factory import make_runner, start_runners
from control_plane.service import JobView, OperationView, TenantService

TenantArgument = Annotated[str, typer.Argument(help="Tenant id.")]
WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow the job until a worker has run it.")
]
TimeoutOption = Annotated[
    float, typer.Option(min=1, help="Seconds --wait follows the job before giving up.")
]
FINISHED = {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value}


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("preview")(preview)
    app.command("refresh")(refresh)
    app.command("history")(history)
    app.command("worker")(worker)
    app.command("status")(status)


def up(
    tenant: TenantArgument,
    *,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply the tenant's desired spec (deploy, or a plan with the offline runner)."""
    _stack_operation(tenant, JobKind.UP, wait=wait, timeout=timeout, actor=actor, as_json=as_json)


def preview(
    tenant: TenantArgument,
    *,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what an `up` would change, with the policy pack applied."""
    _stack_operation(
        tenant, JobKind.PREVIEW, wait=wait, timeout=timeout, actor=actor, as_json=as_json
    )


def refresh(
    tenant: TenantArgument,
    *,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the stack's state with the cloud (drift)."""
    _stack_operation(
        tenant, JobKind.REFRESH, wait=wait, timeout=timeout, actor=actor, as_json=as_json
    )


def _stack_operation(
    tenant: str, kind: JobKind, *, wait: bool, timeout: float, actor: str | None, as_json: bool
) -> None:
    with service() as tenants:
        accepted = tenants.run(tenant, kind, actor=actor_name(actor))
        job_id = accepted.job_id or 0
        if not wait:
            if as_json:
                print_json(accepted)
            else:
                out.print(
                    f"[bold]{tenant}[/]: {escape(accepted.message)}; "
                    f"run it with `tenantctl worker --drain`"
                )
            return
        job = _follow(tenants, job_id, timeout, quiet=as_json)
        runs = [o for o in tenants.history(tenant, limit=20) if o.job_id == job.id and o.mode]
    if as_json:
        print_json({"job": job, "operation": runs[0] if runs else None})
    elif runs:
        _print_run(runs[0])
    if job.status != JobStatus.SUCCEEDED.value:
        raise typer.Exit(1)


def _follow(tenants: TenantService, job_id: int, timeout: float, *, quiet: bool) -> JobView:
    """Poll the job (and the one that superseded it) until it has finished."""
    deadline = time.monotonic() + timeout
    # The spinner is gone before anything is reported: an error never shares its line.
    with out.status("queued", spinner="dots") as spinner:
        while True:
            job = tenants.job(job_id)
            if job.status == JobStatus.SUPERSEDED.value and job.superseded_by is not None:
                job_id = job.superseded_by
                continue
            if job.status in FINISHED or time.monotonic() > deadline:
                break
            if not quiet:
                waiting = "waiting for a worker" if job.status == "queued" else "running"
                spinner.update(
                    f"{job.kind} {job.tenant_id} (job {job.id}): {waiting}, "
                    f"attempt {max(job.attempts, 1)}/{job.max_attempts}"
                )
            time.sleep(0.2)
    if job.status not in FINISHED:
        raise fail(
            f"job {job.id} is still {job.status} after {timeout:.0f}s; is a worker running? "
            f"(`tenantctl worker`); follow it with `tenantctl history {job.tenant_id}`"
        )
    return job


def _print_run(run: OperationView) -> None:
    colour = "green" if run.status == OperationStatus.SUCCEEDED.value else "red"
    out.print(
        f"{run.action} [{colour}]{run.status}[/] · {mode_label(run.mode)} · {_changes(run.changes)}"
    )
    if run.retained:
        out.print(f"retained data stores: {escape(', '.join(run.retained))}")
    for violation in run.policy_violations:
        out.print(f"[red]policy:[/] {escape(violation)}")
    if run.error:
        out.print(f"[red]error:[/] {escape(run.error)}")


def _changes(changes: dict[str, int]) -> str:
    shown = {k: v for k, v in changes.items() if v}
    return ", ".join(f"{k} {v}" for k, v in sorted(shown.items())) or "no changes"


def history(
    tenant: TenantArgument,
    *,
    limit: Annotated[int, typer.Option(min=1, help="Newest operations to show.")] = 50,
    events: Annotated[bool, typer.Option(help="Include engine events of each run.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The tenant's operation log: who asked for what, and what each run did."""
    with service() as tenants:
        operations = tenants.history(tenant, limit=limit, events=events)
    if as_json:
        print_json(operations)
        return
    table = Table(title=f"{tenant}: operations, newest first")
    for column in ("#", "when", "action", "mode", "status", "spec", "by", "details"):
        table.add_column(column)
    for op in operations:
        details = op.error or op.message or ""
        if op.mode is not None and op.status == OperationStatus.SUCCEEDED.value:
            details = _changes(op.changes)
            if op.retained:
                details += f"; retained {', '.join(op.retained)}"
        table.add_row(
            str(op.id),
            f"{op.started_at:%Y-%m-%d %H:%M:%S}",
            op.action,
            mode_label(op.mode),
            op.status,
            f"v{op.spec_version}" if op.spec_version else "-",
            escape(op.actor),
            escape(details),
        )
    out.print(table)
    if events:
        for op in reversed(operations):
            for line in op.events:
                out.print(f"[dim]#{op.id}[/] {escape(line)}", highlight=False)


def worker(
    *,
    workers: Annotated[int, typer.Option(min=1, help="How many workers to run.")] = 1,
    processes: Annotated[
        bool, typer.Option(help="Run workers as processes instead of threads.")
    ] = False,
    drain: Annotated[
        bool,
        typer.Option("--drain", "--once", help="Run until the queue is empty, then exit."),
    ] = False,
) -> None:
    """Run queued stack operations. SIGTERM finishes the current job; a second one releases it.

    Without --drain, workers also queue a drift check of each deployed tenant every
    TENANTS_DRIFT_INTERVAL."""
    with registry() as (settings, database), user_errors():
        configure_for(settings)
        plugins = start_runners(settings)
        if plugins:
            out.print(f"provider plugins: {', '.join(plugins)}", highlight=False)
        remaining = JobQueue(database, settings).unfinished()
        if processes:
            codes = run_processes(settings, make_runner, count=workers, drain=drain)
            if any(codes):
                raise fail(f"worker processes exited with {codes}")
            return
        if not drain:
            out.print(f"{workers} worker(s) waiting for jobs; Ctrl-C or SIGTERM stops them")
            run_threads(
                settings, make_runner, count=workers, drain=False, on_outcome=_print_outcome
            )
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=out,
        ) as progress:
            task = progress.add_task("draining the queue", total=remaining)

            def advance(outcome: JobOutcome) -> None:
                progress.console.print(_outcome_line(outcome), highlight=False)
                if outcome.status != OperationStatus.RETRYING:
                    progress.advance(task)

            ran = run_threads(settings, make_runner, count=workers, drain=True, on_outcome=advance)
            progress.update(task, completed=progress.tasks[0].total or ran)
        out.print(f"queue empty: {ran} run(s)")


def _print_outcome(outcome: JobOutcome) -> None:
    out.print(_outcome_line(outcome), highlight=False)


def _outcome_line(outcome: JobOutcome) -> str:
    job = outcome.job
    colour = {"succeeded": "green", "retrying": "yellow"}.get(outcome.status, "red")
    line = (
        f"{job.kind.value} [bold]{job.tenant_id}[/] (job {job.id}, attempt {job.attempt}): "
        f"[{colour}]{outcome.status}[/]"
    )
    if outcome.retry_at is not None:
        line += f", retry after {outcome.retry_at:%H:%M:%S}"
    if outcome.error:
        line += f" · {escape(outcome.error)}"
    return line


def status(as_json: JsonOption = False) -> None:
    """Fleet summary: tenants by state, the queue, failures, billing subscriptions in trouble."""
    with service() as tenants:
        summary = tenants.status()
        views = tenants.tenants()
        billing_problems = subscriptions(tenants.database, problems_only=True)
    if as_json:
        print_json({**dataclasses.asdict(summary), "billing_problems": billing_problems})
        return
    states = Table(title="tenants by state")
    states.add_column("state")
    states.add_column("tenants", justify="right")
    for state, count in summary.tenants_by_state.items():
        states.add_row(state_label(state), str(count))
    out.print(states if summary.tenants_by_state else "no tenants yet")
    jobs = Table(title="jobs by status")
    jobs.add_column("status")
    jobs.add_column("jobs", justify="right")
    for job_status, count in summary.jobs_by_status.items():
        jobs.add_row(job_status, str(count))
    out.print(jobs)
    if summary.tenants_in_plan_mode:
        out.print(
            f"[yellow]{summary.tenants_in_plan_mode} tenant(s) only planned offline "
            f"(nothing deployed):[/] "
            + ", ".join(v.tenant_id for v in views if v.last_run_mode == "plan")
        )
    for tenant, error in summary.failed_tenants.items():
        out.print(f"[red]failed[/] [bold]{tenant}[/]: {escape(error)}")
    for problem in billing_problems:
        out.print(f"[red]billing[/] {escape(subscription_line(problem))}")
