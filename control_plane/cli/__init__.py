"""`tenantctl`: the operator's command line.

Each command group lives in its own module and registers itself on the app. The modules
are imported only when one of their commands runs (they pull in the SDK, SQLAlchemy,
FastAPI and the policy pack), so `tenantctl --help` starts at once; the short help shown
for each command is kept here, beside the module that holds it.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

from control_plane.cli.boundary import report_unexpected

LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    # command: (module in control_plane.cli, short help)
    "demo": ("demo", "Billing events drive one tenant through its whole life, narrated."),
    "plan": ("plan", "Evaluate tenant stacks offline under the SDK's mocks: no CLI, no cloud."),
    "check": ("check", "Check tenant stacks against the compliance pack offline."),
    "tenants": ("tenants", "Register tenants and change what they should run."),
    "up": ("ops", "Apply the tenant's desired spec (deploy, or a plan offline)."),
    "preview": ("ops", "Show what an `up` would change, with the policy pack applied."),
    "refresh": ("ops", "Compare the stack's state with the cloud (drift)."),
    "history": ("ops", "The tenant's operation log: who asked for what, what each run did."),
    "worker": ("ops", "Run queued stack operations (--drain: until the queue is empty)."),
    "status": ("ops", "Fleet summary: tenants by state, the queue, failures."),
    "sync": ("sync", "Apply edited stack files of registered tenants as spec changes."),
    "health": ("health", "Alarm states, last run, failing jobs and drift, per tenant."),
    "diagnose": ("health", "Everything support needs about one tenant, with next steps."),
    "slo": ("health", "A month's availability against the plan's objective, and its credit."),
    "drift": ("drift", "Drifted tenants and resources; queue a check (--check) or repair."),
    "events": ("events", "Lifecycle events out: list, deliver, manage webhook endpoints."),
    "billing": ("billing", "The billing webhook: serve it, reconcile, send sample events."),
    "invoices": ("invoices", "Issue (--issue) or preview (--preview) a tenant's invoices."),
    "sandbox": ("sandbox", "Run a local AWS (moto on 127.0.0.1) for `tenantctl up`."),
    "cells": ("cells", "AWS accounts tenants are placed in: add, list, drain, vend silos."),
    "serve": ("serve", "Serve /api/v1, /hooks/billing and /metrics, with the reconciler."),
    "users": ("users", "Accounts: create the first operator, lift lockouts, disable accounts."),
    "mail": ("mail", "Mail not sent over SMTP: print (and clear) the outbox."),
    "jobs": ("jobs", "A tenant's jobs; retry a failed one as a new job."),
}


def load_command(name: str) -> _click.Command:
    """The real command `name`, importing the module that defines it."""
    module = importlib.import_module(f"control_plane.cli.{LAZY_COMMANDS[name][0]}")
    holder = typer.Typer()
    holder.callback()(lambda: None)  # a callback keeps a one-command app a group
    module.register(holder)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """Lists commands from `LAZY_COMMANDS`, loads one when it runs, and is the error
    boundary: an unexpected error is one line on stderr and exit code 1 (`--debug`
    shows the traceback)."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_COMMANDS]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            # Enough for listings; resolve_command swaps in the real command to run it.
            short = LAZY_COMMANDS[cmd_name][1]
            return TyperCommand(cmd_name, help=short, short_help=short)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY_COMMANDS:
            command = load_command(name)
        return name, command, rest

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exits, aborts and usage errors: typer reports them itself
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            report_unexpected(error)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="tenantctl",
    help="Provision, check, scale, bill and retire per-tenant AWS service bundles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    """Provision, check, scale, bill and retire per-tenant AWS service bundles."""


def main() -> None:
    app()
