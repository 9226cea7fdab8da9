"""What `tenantctl plan` and `tenantctl check` share: the stacks, the plan cache, progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from control_plane.settings import Settings
from planner.cache import CacheError, PlanCache
from planner.stacks import StackFiles

NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache", help="Plan every stack afresh; neither read nor fill the plan cache."
    ),
]
StacksDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Directory of the Pulumi.<tenant>.yaml files (default: TENANTS_STACKS_DIR, "
        "else the project's stacks/).",
        show_default=False,
    ),
]
WorkersOption = Annotated[
    int, typer.Option(min=0, help="Processes to plan in; 0 means one per available core.")
]

_err = Console(stderr=True, emoji=False, highlight=False)


def stack_files(stacks_dir: Path | None, settings: Settings) -> StackFiles:
    """The option, else `TENANTS_STACKS_DIR`, else the project's `stacks/`."""
    return StackFiles(stacks_dir or settings.stacks_dir)


def no_stacks_message(files: StackFiles) -> str:
    return (
        f"no stack files (Pulumi.<tenant>.yaml) in {files.root}; point --stacks-dir or "
        "TENANTS_STACKS_DIR at the fleet's stacks directory"
    )


def open_plan_cache(settings: Settings, no_cache: bool) -> PlanCache | None:
    """The plan cache in the data directory; off (with a warning) when it cannot be used."""
    if no_cache:
        return None
    cache = PlanCache(settings.data_dir / "plan-cache", settings.plan_cache_max_mb * 1024 * 1024)
    try:
        return cache.open()
    except CacheError as error:
        _err.print(f"[yellow]warning:[/] {error}; planning without the cache", soft_wrap=True)
        return None


def report_reuse(reused: int, total: int, cache: PlanCache | None) -> None:
    if cache is not None and total:
        _err.print(
            f"plan cache: {reused} of {total} tenant(s) reused, {total - reused} planned",
            soft_wrap=True,
        )


class FleetProgress:
    """A progress bar on stderr, only on a terminal and only once a run has lasted a second.

    Transient: it is gone before anything else is printed, so it never shares a line with
    a report or an error.
    """

    def __init__(self, description: str, delay: float = 1.0) -> None:
        self._description = description
        self._delay = delay
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._started < self._delay:
                return
            self._progress = Progress(
                f"[bold]{self._description}[/]",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=_err,
                transient=True,
            )
            self._progress.add_task(self._description, total=total)
            self._progress.start()
        self._progress.update(self._progress.task_ids[0], completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> FleetProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
