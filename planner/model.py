"""What an offline plan of one tenant stack produces: the registered resources, as data.

The shape is the `--json` output of `tenantctl plan` and the input of the offline policy
gate and the control plane's offline runner.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PlannedResource(BaseModel):
    """One resource the program registered, with the inputs the engine would see."""

    model_config = ConfigDict(frozen=True)

    type: str
    """Pulumi type token, e.g. `aws:s3/bucket:Bucket`."""
    name: str
    """Logical name, e.g. `acme-data`."""
    urn: str
    id: str | None = None
    """Physical id the mocks assigned (custom resources only)."""
    parent: str | None
    """Logical name of the parent resource (`None` for the stack's direct children)."""
    parent_urn: str | None = None
    custom: bool
    """True for cloud resources, False for components."""
    inputs: dict[str, Any]
    """Inputs with engine (camelCase) property names, as a policy sees them."""
    outputs: dict[str, Any] = Field(default_factory=dict)
    """State the mocks returned (ids, ARNs, and provider-computed `tagsAll`)."""
    provider: str | None = None
    """Logical name of the explicit provider, if any."""
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: tuple[str, ...] = ()
    """URNs this resource depends on."""


class TenantPlan(BaseModel):
    """The offline plan of one tenant stack. Never a deployment: nothing was created."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    plan: str
    region: str
    resources: list[PlannedResource]
    stack_outputs: dict[str, Any] = Field(default_factory=dict)
    """Values the program exported."""
    warnings: list[str] = Field(default_factory=list)
    """Warnings the program logged (a deprecation warning among them is a defect)."""

    def by_type(self, type_token: str) -> list[PlannedResource]:
        """Resources of one type, in registration order."""
        return [r for r in self.resources if r.type == type_token]

    def to_document(self) -> dict[str, Any]:
        """The plan as `tenantctl plan --json` prints it (and `check --plan-file` reads it)."""
        return {
            "tenant": self.tenant,
            "plan": self.plan,
            "region": self.region,
            "mode": "plan",
            "resource_count": len(self.resources),
            "resources": [r.model_dump(mode="json") for r in self.resources],
            "outputs": self.stack_outputs,
            "warnings": self.warnings,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> TenantPlan:
        """Read back what `to_document` (or `model_dump`) wrote; `ValidationError` names
        a missing field."""
        outputs = document.get("outputs", document.get("stack_outputs", {}))
        return cls.model_validate({**document, "stack_outputs": outputs})

    def counts_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            counts[r.type] = counts.get(r.type, 0) + 1
        return dict(sorted(counts.items()))


class PlanFailure(BaseModel):
    """A stack that could not be planned, with the reason a person can act on."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    stack_file: str
    error: str


def read_plan_document(text: str) -> list[TenantPlan | PlanFailure]:
    """The plans in what `tenantctl plan --json` writes (`{"tenants": [...], "errors": [...]}`,
    one tenant or the fleet), or in a single plan object; `ValueError` says what is wrong."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError('expected a JSON object: a plan, or {"tenants": [...]}')
    if "tenants" not in document:
        return [TenantPlan.from_document(document)]
    tenants, errors = document["tenants"], document.get("errors", [])
    if not isinstance(tenants, list) or not isinstance(errors, list):
        raise ValueError("'tenants' and 'errors' must be lists")
    return [
        *(TenantPlan.from_document(entry) for entry in tenants),
        *(PlanFailure.model_validate(entry) for entry in errors),
    ]
