"""What the registry commands share: settings, the service, error reporting and JSON output."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from components.stack_config import InvalidStackError
from control_plane.cli.environment import fail, load_settings
from control_plane.registry.cidr import NetworkPoolError
from control_plane.registry.database import Database, RegistryUnavailableError, open_database
from control_plane.registry.lifecycle import TransitionError
from control_plane.registry.repository import TenantExistsError, TenantNotFoundError
from control_plane.runners.base import RunnerError
from control_plane.service import (
    InvalidSpecError,
    PurgeNotConfirmedError,
    SpecChangeError,
    StackFileExistsError,
    StackFileMissingError,
    TenantService,
)
from control_plane.settings import Settings
from planner.stacks import UnknownTenantError

UNKNOWN_TENANT_ERRORS = (TenantNotFoundError, UnknownTenantError)
"""`unknown tenant 'x'; known tenants: ...`: exit code 2 from every command."""
USER_ERRORS = (
    TenantExistsError,
    TransitionError,
    InvalidSpecError,
    SpecChangeError,
    PurgeNotConfirmedError,
    StackFileExistsError,
    StackFileMissingError,
    NetworkPoolError,
    InvalidStackError,
    RunnerError,
)
"""Errors that explain themselves: shown as one message and exit code 1, no traceback."""

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ActorOption = Annotated[
    str | None,
    typer.Option(help="Who asks, for the audit log (default: the login name)."),
]

# No emoji codes: ARNs such as `...:secret:tenants/...` must print verbatim.
out = Console(emoji=False)


@contextmanager
def registry() -> Iterator[tuple[Settings, Database]]:
    """The settings and the migrated registry, closed afterwards."""
    settings = load_settings(Settings)
    try:
        database = open_database(settings.registry_url)
    except RegistryUnavailableError as error:
        where = "TENANTS_DATABASE_URL" if settings.database_url else "TENANTS_DATA_DIR"
        raise fail(f"registry database unavailable: {error}; check {where}") from None
    try:
        yield settings, database
    finally:
        database.dispose()


@contextmanager
def service() -> Iterator[TenantService]:
    """The tenant service; known errors become a message and exit code 1."""
    with registry() as (settings, database), user_errors():
        yield TenantService(database, settings)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except UNKNOWN_TENANT_ERRORS as error:
        raise fail(str(error), code=2) from None
    except USER_ERRORS as error:
        raise fail(str(error)) from None


def actor_name(actor: str | None) -> str:
    return actor or getpass.getuser()


def print_json(value: Any) -> None:
    """Dataclasses, lists and dicts as JSON on stdout."""
    out.print_json(json.dumps(_plain(value), default=str))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def mode_label(mode: str | None) -> str:
    """How a run's mode reads in tables: plans are never shown as deployments."""
    if mode == "plan":
        return "[yellow]plan[/] (nothing deployed)"
    if mode == "deploy":
        return "[green]deploy[/]"
    return "-"


def state_label(display_state: str) -> str:
    colour = {
        "active": "green",
        "suspended": "yellow",
        "failed": "red",
        "retired": "dim",
    }.get(display_state.split(maxsplit=1)[0], "cyan")
    return f"[{colour}]{escape(display_state)}[/]"
