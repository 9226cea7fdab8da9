"""The one small interface every stack runner implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from components.spec import TenantSpec
from components.stack_config import role_session_name
from control_plane.registry.runs import RunMode, RunResult

EventSink = Callable[[str], None]
"""Receives one line per engine event (streamed into the operation log)."""


_JOB: ContextVar[str | None] = ContextVar("tenants_job", default=None)


@contextmanager
def running_job(label: str) -> Iterator[None]:
    """Name the job the stack operations inside run for (in the cell role's session name)."""
    token = _JOB.set(label)
    try:
        yield
    finally:
        _JOB.reset(token)


def session_name(spec: TenantSpec) -> str:
    """The session name the tenant's provider assumes its cell's role with, naming the job."""
    return role_session_name(spec.tenant_id, _JOB.get())


class RunnerError(Exception):
    """A stack operation failed; `retryable` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class StackLocked(RunnerError):
    """Another update holds the stack's lock (ConcurrentUpdateError / "currently locked")."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class StackRunner(Protocol):
    """Runs stack operations for one tenant spec at a time."""

    mode: RunMode

    def up(self, spec: TenantSpec, on_event: EventSink) -> RunResult: ...

    def preview(self, spec: TenantSpec, on_event: EventSink) -> RunResult: ...

    def refresh(self, spec: TenantSpec, on_event: EventSink) -> RunResult: ...

    def destroy(self, spec: TenantSpec, on_event: EventSink, *, purge: bool) -> RunResult: ...

    def outputs(self, tenant_id: str) -> dict[str, Any]: ...
