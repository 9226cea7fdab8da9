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
