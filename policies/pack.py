"""The registry of the pack's policies, shared by `__main__.py` and the offline gate."""

from __future__ import annotations

from types import ModuleType

from pulumi_policy import Policy

from policies.rules import (
    addons,
    alarms,
    compute,
    data,
    functions,
    iam,
    kms,
    load_balancing,
    messaging,
    network,
    s3,
    secrets,
    tenant,
    trail,
)

PACK_NAME = "tenants-compliance"
RULE_MODULES: tuple[ModuleType, ...] = (
    s3,
    kms,
    network,
    compute,
    iam,
    data,
    messaging,
    secrets,
    functions,
    load_balancing,
    trail,
    alarms,
    tenant,
    addons,
)


def _policies_in(module: ModuleType) -> list[Policy]:
    # Module globals keep definition order, so the pack lists rules as their files do.
    return [value for value in vars(module).values() if isinstance(value, Policy)]


def _collect() -> tuple[Policy, ...]:
    policies = [p for module in RULE_MODULES for p in _policies_in(module)]
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"policy names must be unique; repeated: {duplicates}")
    return tuple(policies)


ALL_POLICIES: tuple[Policy, ...] = _collect()
POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
