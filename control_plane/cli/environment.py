"""Settings from the environment for every command, without loading the registry's code.

The offline commands (`check`, `plan`) start with this alone, so a pull-request gate does
not import the database layers it never uses.
"""

from __future__ import annotations

from typing import TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError
from rich.console import Console
from rich.markup import escape

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
# No emoji codes: ARNs such as `...:secret:tenants/...` must print verbatim.
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
    except SettingsError as error:
        raise fail(f"invalid configuration: {error}") from None
