"""The last word on an error no command explained: one line saying what is wrong and what
to do, never a traceback (`tenantctl --debug ...` shows it)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

DEBUG_HINT = "run again with `tenantctl --debug ...` to see the traceback"


def describe(error: BaseException) -> str:
    """One line naming the problem and the way out."""
    if isinstance(error, OSError) and error.filename is not None:
        reason = (error.strerror or str(error)).lower()
        return (
            f"cannot use {error.filename}: {reason}; check that the path (and its directory) "
            "exists and is writable, or choose another"
        )
    if type(error).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "sqlite3"):
        return (
            f"the registry database failed: {_first_line(error)}; check TENANTS_DATABASE_URL "
            "and that the database is reachable"
        )
    return f"unexpected {type(error).__name__}: {_first_line(error)}; {DEBUG_HINT}"


def report_unexpected(error: BaseException) -> None:
    Console(stderr=True, emoji=False, file=sys.stderr).print(
        f"[red]error:[/] {escape(describe(error))}", highlight=False, soft_wrap=True
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
