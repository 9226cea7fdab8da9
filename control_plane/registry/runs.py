"""What a stack operation did, in the terms the registry records it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
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


PROVIDER_TYPE_PREFIX = "pulumi:providers:"
"""Explicit providers are engine plumbing, not part of a tenant's inventory."""
SECRET_VALUE = "[secret]"
MAX_OUTPUT_CHARS = 256
"""Longer output strings (policy documents, user data) stay in the stack, not the registry."""
_SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""The engine's marker of a secret value in a stack's state (`sig` key and value)."""


@dataclass(frozen=True)
class RunResource:
    """One cloud resource of a stack after a run, as the registry keeps it."""

    urn: str
    """Its URN: the chain of component types it lives in, its type and its name."""
    type: str
    name: str
    id: str | None
    outputs: dict[str, Any] = field(default_factory=dict)
    """Its scalar outputs (ids, ARNs, names); secrets replaced by `[secret]`."""


def scalar_outputs(outputs: Mapping[str, Any], secret: Collection[str] = ()) -> dict[str, Any]:
    """The outputs worth showing a person: scalar values up to `MAX_OUTPUT_CHARS`, with
    secrets (the engine's envelopes, or the keys named in `secret`) masked."""
    kept: dict[str, Any] = {}
    for key, value in sorted(outputs.items()):
        if key in secret or _is_secret(value):
            kept[key] = SECRET_VALUE
        elif isinstance(value, bool | int | float) or (
            isinstance(value, str) and len(value) <= MAX_OUTPUT_CHARS
        ):
            kept[key] = value
    return kept


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_SECRET_SIGNATURE[0]) == _SECRET_SIGNATURE[1]


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
    resources: list[RunResource] | None = None
    """The stack's resources after the run; None when the run does not establish them (a
    preview, a refusal)."""
    drifted: tuple[DriftedResource, ...] = ()
    """Drift checks only: the resources found drifted (empty: none)."""
