"""The one small interface every stack runner implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


class LeaseLost(RunnerError):
    """The run's job was taken over by another worker: nothing of this run may be committed."""


class Fence(Protocol):
    """The lease a run holds on its job, checked wherever the run commits an effect.

    `token` (the lease generation) grows with every claim of a tenant's jobs, so of two
    runs of one tenant the later claim always holds the larger token; storage that keeps
    the token of its last writer refuses a smaller one.
    """

    @property
    def token(self) -> int: ...

    def check(self) -> None:
        """Raise `LeaseLost` when the job no longer carries this run's token."""

    def watch(self, on_lost: Callable[[], None]) -> AbstractContextManager[None]:
        """Call `on_lost` (from another thread) if the lease is lost while inside."""


class Unfenced:
    """For runs outside the queue (tests, benchmarks): always held, token 0."""

    token = 0

    def check(self) -> None:
        return None

    @contextmanager
    def watch(self, on_lost: Callable[[], None]) -> Iterator[None]:
        yield


UNFENCED = Unfenced()


class StackRunner(Protocol):
    """Runs stack operations for one tenant spec at a time, under the job's fence."""

    mode: RunMode

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult: ...

    def preview(
        self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED
    ) -> RunResult: ...

    def refresh(
        self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED
    ) -> RunResult: ...

    def destroy(
        self, spec: TenantSpec, on_event: EventSink, *, purge: bool, fence: Fence = UNFENCED
    ) -> RunResult: ...

    def drift(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        """Compare the stack with what it should be, read-only; `RunResult.drifted` lists
        what differs. Never changes the stack's state."""
        ...

    def outputs(self, tenant_id: str) -> dict[str, Any]: ...
