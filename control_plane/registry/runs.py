"""What a stack operation did, in the terms the registry records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
    DRIFT = "drift"
    """A read-only comparison of the stack with what it should be (never changes state)."""


@dataclass(frozen=True)
class DriftedResource:
    """One resource that is not what the last `up` left (or, offline, what was planned)."""

    urn: str
    type: str
    name: str
    change: str
    """What an `up` would do to put it back: `update`, `delete` (gone), `create`, ..."""
    properties: tuple[str, ...] = ()
    """The properties that differ, when the engine names them."""

    def line(self) -> str:
        changed = f" ({', '.join(self.properties[:6])})" if self.properties else ""
        return f"{self.change} {self.type} {self.name}{changed}"


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
    drifted: tuple[DriftedResource, ...] = ()
    """Drift checks only: the resources found drifted (empty: none)."""
