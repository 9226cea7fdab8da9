"""Shared builders for component tests: specs from a small base, plans through the mocks."""

from __future__ import annotations

import copy
import json
from typing import Any

from components.spec import TenantSpec
from planner.model import PlannedResource, TenantPlan
from planner.program import plan_spec

BASE_SPEC: dict[str, Any] = {
    "tenant_id": "testco",
    "plan": "pro",
    "region": "eu-west-1",
    "residency": "eu",
    "network": {"cidr": "10.80.0.0/20"},
}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def make_spec(**overrides: Any) -> TenantSpec:
    return TenantSpec.model_validate(merge(BASE_SPEC, overrides))


def plan_of(**overrides: Any) -> TenantPlan:
    return plan_spec(make_spec(**overrides))


def only(plan: TenantPlan, type_token: str) -> PlannedResource:
    found = plan.by_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, found {len(found)}"
    return found[0]


def document(resource: PlannedResource, key: str = "policy") -> dict[str, Any]:
    """An IAM/resource policy input, which arrives as a JSON string."""
    value = resource.inputs[key]
    assert isinstance(value, str)
    parsed: dict[str, Any] = json.loads(value)
    return parsed
