"""The one small interface every stack runner implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from components.spec import TenantSpec


class RunMode(StrEnum):
    """Whether a result changed real infrastructure."""

    DEPLOY = "deploy"
    """The Automation API ran the operation against a real (or sandbox) cloud."""
    PLAN = "plan"
    """Evaluated offline under mocks: nothing was created, changed or destroyed."""


class StackOperation(StrEnum):
    UP = "up"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DESTROY = "destroy"
    OUTPUTS = "outputs"


EventSink = Callable[[str], None]
"""Receives one line per engine event (streamed into the operation log)."""


@dataclass(frozen=True)
class RunResult:
    """What one stack operation did."""

    operation: StackOperation
    mode: RunMode
    changes: dict[str, int] = field(default_factory=dict)
    """Resource operation counts, e.g. {"create": 42} (planned counts in plan mode)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    policy_violations: list[str] = field(default_factory=list)
    """Mandatory policy violations; non-empty means the operation was refused."""
    retained: list[str] = field(default_factory=list)
    """Data resources kept by a destroy (bucket names, key and table ids)."""
    resource_count: int = 0


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
