"""What the registry commands share: settings, the service, error reporting and JSON output."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.markup import escape

from components.stack_config import InvalidStackError
from control_plane.registry.cidr import NetworkPoolError
from control_plane.registry.database import Database, open_database
from control_plane.registry.lifecycle import TransitionError
from control_plane.registry.repository import TenantExistsError, TenantNotFoundError
from control_plane.runners.base import RunnerError
from control_plane.service import (
    InvalidSpecError,
    PurgeNotConfirmedError,
    SpecChangeError,
    StackFileExistsError,
    TenantService,
)
from control_plane.settings import Settings
from planner.stacks import UnknownTenantError

USER_ERRORS = (
    TenantNotFoundError,
    TenantExistsError,
    TransitionError,
    InvalidSpecError,
    SpecChangeError,
    PurgeNotConfirmedError,
    StackFileExistsError,
    NetworkPoolError,
    UnknownTenantError,
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
SettingsT = TypeVar("SettingsT", bound=BaseSettings)

out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_settings(kind: type[SettingsT]) -> SettingsT:
    """Settings of `kind` from the environment; a bad variable is named with its problem."""
    prefix = kind.model_config.get("env_prefix", "")
    try:
        return kind()
    except ValidationError as error:
        problems = "; ".join(
            f"{prefix}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise fail(f"invalid configuration: {problems}") from None


@contextmanager
def registry() -> Iterator[tuple[Settings, Database]]:
    """The settings and the migrated registry, closed afterwards."""
    settings = load_settings(Settings)
    database = open_database(settings.registry_url)
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
