"""What tenant rules need to know about the stack: its tenant, plan and residency.

The tenant id is the stack name (read from URNs); the plan comes from the `plan` tag; the
residency from the stack's `tenants:spec` config, which the engine hands to policy packs
in the environment (and the offline gate sets the same way).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from components.plans import Plan, PlanName, get_plan
from components.spec import REGIONS_BY_RESIDENCY, Residency
from components.stack_config import SPEC_KEY


def plan_of(tags: Mapping[str, Any]) -> Plan | None:
    """The catalog entry named by the `plan` tag, or `None` when the tag is absent/unknown."""
    name = tags.get("plan")
    if name not in {p.value for p in PlanName}:
        return None
    return get_plan(str(name))


def stack_spec() -> Mapping[str, Any] | None:
    """The stack's `tenants:spec` config as a mapping, when the engine provided it."""
    raw = pulumi.runtime.get_config(SPEC_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, Mapping) else None


def operator_account() -> str | None:
    """The customer account the stack's spec lets assume its operator role, if any."""
    spec = stack_spec()
    operator = spec.get("operator") if spec else None
    account = operator.get("account_id") if isinstance(operator, Mapping) else None
    return (
        str(account) if isinstance(account, str | int) and not isinstance(account, bool) else None
    )


def residency_regions(residency: str) -> tuple[str, ...] | None:
    """Regions allowed for a residency value; `None` for an unknown residency."""
    try:
        return REGIONS_BY_RESIDENCY[Residency(residency)]
    except ValueError:
        return None
