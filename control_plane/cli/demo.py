"""`tenantctl demo`: the whole product on the embedded defaults, narrated."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from control_plane.demo import Demo


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Scratch directory for registry and state (default: a new temp dir)."),
    ] = None,
) -> None:
    """Billing events drive one tenant through provision, upgrade, suspension, resume,
    invoice and retirement: webhook, reconciler, queue, worker, runner and policy pack."""
    directory = workdir or Path(tempfile.mkdtemp(prefix="tenants-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    Demo(directory, Console(emoji=False)).run()
