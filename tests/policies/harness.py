"""Hand-built plans for policy tests: compliant baselines as the engine would show them.

`violations` runs one policy through the real offline gate (engine-shaped props,
enforcement, config), so every unit test also exercises what `tenantctl check` does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pulumi_policy import Policy

from planner.model import PlannedResource, TenantPlan
from policies.config import PackConfig
from policies.gate import Evaluation, evaluate_plan

TENANT = "acme"
TAGS = {
    "tenant": TENANT,
    "plan": "pro",
    "managed-by": "tenants-platform",
    "cost-center": "cc-1001",
}
ACCOUNT = "123456789012"
SPEC = {"tenant_id": TENANT, "plan": "pro", "region": "eu-west-1", "residency": "eu"}


def urn(type_: str, name: str, stack: str = TENANT) -> str:
    return f"urn:pulumi:{stack}::tenants::{type_}::{name}"


def res(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    outputs: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    protect: bool = False,
    depends_on: tuple[PlannedResource, ...] = (),
    provider: str | None = "acme-aws",
    stack: str = TENANT,
) -> PlannedResource:
    """A planned custom resource; `tags` become the provider-computed `tagsAll`."""
    state = {**inputs, **(outputs or {})}
    if tags is not None:
        state["tagsAll"] = tags
    return PlannedResource(
        type=type_,
        name=name,
        urn=urn(type_, name, stack),
        parent=None,
        custom=True,
        inputs=inputs,
        outputs=state,
        provider=provider,
        protect=protect,
        dependencies=tuple(d.urn for d in depends_on),
    )


def provider(
    region: str = "eu-west-1", tags: dict[str, str] | None = None, **inputs: Any
) -> PlannedResource:
    """The tenant's provider; `inputs` adds provider inputs such as `allowedAccountIds`."""
    default_tags = json.dumps({"tags": TAGS if tags is None else tags})
    return res(
        "pulumi:providers:aws",
        "acme-aws",
        {"region": region, "defaultTags": default_tags, **inputs},
        provider=None,
    )


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` set to `value` (`None` deletes it)."""
    out = copy.deepcopy(base)
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target: Any = out
    for key in keys[:-1]:
        target = target[key]
    if value is None:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return out


def tenant_plan(*resources: PlannedResource, with_provider: bool = True) -> TenantPlan:
    """The tenant's plan of `resources`, after its provider unless `with_provider` is false."""
    return TenantPlan(
        tenant=TENANT,
        plan="pro",
        region="eu-west-1",
        resources=[*([provider()] if with_provider else []), *resources],
    )


def evaluate(
    policy: Policy,
    *resources: PlannedResource,
    config: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    with_provider: bool = True,
) -> Evaluation:
    plan = tenant_plan(*resources, with_provider=with_provider)
    pack = PackConfig(properties={policy.name: config}) if config else None
    # Always set the stack config, so one test's spec never leaks into the next.
    stack_config = {"tenants:spec": json.dumps(spec)} if spec else {}
    return evaluate_plan(plan, stack_config=stack_config, pack_config=pack, policies=[policy])


def violations(policy: Policy, *resources: PlannedResource, **kwargs: Any) -> list[str]:
    """Messages of every violation `policy` reports on the resources."""
    return [f.message for f in evaluate(policy, *resources, **kwargs).findings]


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
