"""Offline planning cost: the real bundle versus the SDK's own floor.

Plans N synthetic tenants (cycling through the four plans) in one process with the same
evaluator `tenantctl plan` uses, then registers the same number of resources as bare
`CustomResource`s under trivial mocks: the cost of the Pulumi SDK alone. Prints ms per
tenant, ms per resource for both, and their ratio.

    .venv/bin/python benchmarks/plan_fleet.py --tenants 40
"""

from __future__ import annotations

import argparse
import os
import platform
import runpy
import time
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.plans import PlanName
from components.spec import TenantSpec
from components.stack_config import PROJECT_NAME, engine_config
from planner.model import TenantPlan
from planner.program import PROGRAM, plan_spec, without_source_positions

_REGIONS = {"eu": "eu-west-1", "us": "us-east-1"}


def synthetic_spec(index: int) -> TenantSpec:
    plan = list(PlanName)[index % 4]
    residency = "eu" if index % 2 else "us"
    return TenantSpec.model_validate(
        {
            "tenant_id": f"bench{index:04d}",
            "plan": plan.value,
            "region": _REGIONS[residency],
            "residency": residency,
            "network": {"cidr": f"10.{64 + index // 16}.{(index % 16) * 16}.0/20"},
            "storage": {"table": {}} if plan is not PlanName.FREE else {},
            "alarms": {"contacts": [f"ops@bench{index}.example"]},
        }
    )


class _TrivialMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {"accountId": "123456789012"}, []


def floor(plans: list[TenantPlan]) -> float:
    """Seconds the SDK alone takes to register the same resources with the same inputs.

    Each planned resource is registered again as a bare `CustomResource` in a flat loop
    under trivial mocks: no components, no outputs flowing between resources, no ids or
    ARNs to compute. Source positions are skipped here too, as the planner skips them.
    """
    started = time.perf_counter()
    with without_source_positions():
        for plan in plans:
            _register_flat(plan)
    return time.perf_counter() - started


def program_under_trivial_mocks(specs: list[TenantSpec]) -> float:
    """Seconds the SDK takes to run the real program with trivial mocks and no recording:
    the program's own cost, without the planner's realistic ids, ARNs and bookkeeping."""
    started = time.perf_counter()
    with without_source_positions():
        for spec in specs:
            runtime_settings.ROOT.set(None)
            pulumi.runtime.set_mocks(
                _TrivialMocks(), project=PROJECT_NAME, stack=spec.tenant_id, preview=True
            )
            pulumi.runtime.set_all_config(engine_config(spec))
            _sync_await(run_pulumi_func(_run_program))
    return time.perf_counter() - started


def _run_program() -> None:
    runpy.run_path(str(PROGRAM), run_name="__main__")


def _register_flat(plan: TenantPlan) -> None:
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        _TrivialMocks(), project="tenants", stack=f"floor-{plan.tenant}", preview=True
    )

    def program() -> None:
        for resource in plan.resources:
            pulumi.CustomResource(resource.type, resource.name, dict(resource.inputs))

    _sync_await(run_pulumi_func(program))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=40)
    args = parser.parse_args()

    specs = [synthetic_spec(i) for i in range(args.tenants)]
    plan_spec(specs[0])  # warm imports and caches out of the measurement
    started = time.perf_counter()
    plans = [plan_spec(spec) for spec in specs]
    bundle_seconds = time.perf_counter() - started
    resources = sum(len(p.resources) for p in plans)
    by_plan = {p.plan: len(p.resources) for p in plans}

    floor(plans[:1])  # warm-up
    floor_seconds = floor(plans)
    program_seconds = program_under_trivial_mocks(specs)

    per_resource = bundle_seconds / resources * 1000
    floor_per_resource = floor_seconds / resources * 1000
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    print(f"tenants planned: {args.tenants}, resources: {resources}")
    print(f"resources per tenant by plan: {by_plan}")
    per_tenant = bundle_seconds * 1000 / args.tenants
    print(f"bundle: {per_tenant:.1f} ms/tenant, {per_resource:.3f} ms/resource")
    print(f"SDK floor (same resources, bare, trivial mocks): {floor_per_resource:.3f} ms/resource")
    program_per_resource = program_seconds / resources * 1000
    print(f"same program, trivial mocks, no recording: {program_per_resource:.3f} ms/resource")
    ratio = per_resource / floor_per_resource
    print(f"ratio bundle/floor per resource: {ratio:.2f}x (target <= 1.3x)")
    print(f"planner overhead over the bare program: {per_resource / program_per_resource:.2f}x")


if __name__ == "__main__":
    main()
