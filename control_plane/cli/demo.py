"""`tenantctl demo`: the whole product on the embedded defaults, narrated."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from control_plane.demo import TENANT, Demo

WIDTH = 100
"""The demo's tables and rules are laid out for this many columns at most."""
PORTAL_COMMAND = "TENANTS_BILLING_WEBHOOK_SECRETS=whsec_local_example tenantctl serve --workers 1"
"""What serves the portal (and the API) on the default data directory, for people to try."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Directory for registry and state (default: a new scratch dir)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch directory to look around after.")
    ] = False,
) -> None:
    """Billing events drive one tenant through a month: provision, upgrade, suspension,
    resume, invoice and retirement, through webhook, reconciler, queue, worker, runner and
    policy pack."""
    scratch = workdir is None
    directory = workdir or Path(tempfile.mkdtemp(prefix="tenants-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    console = Console(emoji=False)
    console.width = min(console.width, WIDTH)
    try:
        Demo(directory, console).run()
    finally:
        if scratch and not keep:
            shutil.rmtree(directory, ignore_errors=True)
    if scratch and not keep:
        console.print(f"scratch directory {directory} removed (`--keep` keeps it)", soft_wrap=True)
    else:
        console.print(
            f"kept {directory}; the resource tree: "
            f"`tenantctl plan {TENANT} --stacks-dir {directory}/stacks`",
            soft_wrap=True,
        )
    console.print(
        f"the self-service portal: `{PORTAL_COMMAND}`, then open http://127.0.0.1:8080/ "
        "(sign up; the confirmation code is in `tenantctl mail outbox`)",
        soft_wrap=True,
    )
