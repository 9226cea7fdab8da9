"""`tenantctl jobs`: a tenant's jobs, and retrying a failed one.

A retry queues the failed job again as a new job (it names the failed one), and is refused
for a job that did not fail or whose failure a later job already answers.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from control_plane.cli.context import (
    ActorOption,
    JsonOption,
    actor_name,
    out,
    print_json,
    registry,
    service,
    state_label,
    user_errors,
)
from control_plane.cli.environment import fail
from control_plane.ops.console import OperatorConsole
from control_plane.queue.jobs import JobNotFoundError, JobNotRetryableError
from control_plane.registry.repository import Registry

jobs_app = typer.Typer(
    name="jobs", help="A tenant's jobs; retry a failed one.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app)


@jobs_app.command("list")
def list_jobs(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The tenant's newest jobs; failed ones that can be retried are marked."""
    with registry() as (_settings, database), user_errors():
        with database.transaction() as session:
            Registry(session).tenant(tenant)
        rows = OperatorConsole(database).jobs(tenant, limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no jobs for {tenant}")
        return
    table = Table(title=f"jobs of {tenant}")
    for column in ("job", "kind", "status", "attempts", "actor", "error", "retry"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            row.kind,
            row.status + (f" (retry of {row.retry_of})" if row.retry_of else ""),
            f"{row.attempts}/{row.max_attempts}",
            escape(row.actor),
            escape(row.last_error or "-"),
            f"tenantctl jobs retry {row.id}" if row.retryable else "-",
        )
    out.print(table)


@jobs_app.command("retry")
def retry(
    job: Annotated[int, typer.Argument(min=1, max=2_147_483_647, help="The failed job's id.")],
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a failed job again as a new job (the worker takes it like any other)."""
    with service() as tenants:
        try:
            accepted = tenants.retry_job(job, actor=actor_name(actor))
        except JobNotFoundError as error:
            raise fail(str(error), code=2) from None
        except JobNotRetryableError as error:
            raise fail(str(error)) from None
    if as_json:
        print_json(accepted)
        return
    out.print(
        f"[bold]{accepted.tenant_id}[/]: {escape(accepted.message)}\n"
        f"state {state_label(accepted.state)}; run it with `tenantctl worker --drain`"
    )
