"""`tenantctl sandbox`: a local AWS on 127.0.0.1 that `tenantctl up` deploys to."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from control_plane.cells.sandbox_quotas import sandbox_quotas
from control_plane.cli.environment import load_settings
from control_plane.runners.sandbox import (
    DEFAULT_PORT,
    Sandbox,
    SandboxError,
    client_env,
    sandbox_file,
)
from control_plane.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)


def sandbox(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")
    ] = DEFAULT_PORT,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the endpoint is recorded (default: TENANTS_DATA_DIR)."),
    ] = None,
) -> None:
    """Run a moto server as the AWS endpoint of `tenantctl up`; Ctrl-C stops it."""
    console = Console(emoji=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        run_sandbox(data_dir or load_settings(Settings).data_dir, port, console, stop)
    except SandboxError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc


def run_sandbox(data_dir: Path, port: int, console: Console, stop: threading.Event) -> None:
    """Serve until `stop` is set or Ctrl-C; the endpoint record is removed on the way out."""
    with sandbox_quotas(), Sandbox(data_dir, port) as box:
        _print_usage(console, box.endpoint, data_dir)
        try:
            # Short waits so Ctrl-C is handled promptly on every platform.
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    console.print("sandbox stopped; everything in it is gone")


def _print_usage(console: Console, endpoint: str, data_dir: Path) -> None:
    exports = "\n".join(f"  export {k}={v}" for k, v in client_env(endpoint).items())
    console.print(
        f"[bold]AWS sandbox[/bold] (moto, in memory) at [cyan]{endpoint}[/cyan]\n"
        f"Recorded in {escape(str(sandbox_file(data_dir)))}: `tenantctl up` and the worker "
        "now deploy there (stack config tenants:awsEndpoint).\n"
        f"boto3 and the AWS CLI:\n{exports}\n"
        "`pulumi up -s <tenant>` by hand:\n"
        f"  pulumi config set tenants:awsEndpoint {endpoint} -s <tenant>\n"
        "Ctrl-C stops the sandbox.",
        highlight=False,
    )
