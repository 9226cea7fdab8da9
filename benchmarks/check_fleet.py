"""How fast the offline gate checks a fleet: plan time, policy time, tenants per second.

Writes N synthetic tenant stacks (all four plans, distinct networks) to a temporary
directory, then runs `check_stacks` with 1 and with 2 worker processes.

    .venv/bin/python -m benchmarks.check_fleet [--tenants 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from components.plans import PlanName
from components.spec import TenantSpec
from planner.stacks import StackFiles
from policies.runner import CheckResult, check_stacks

_REGIONS = {"eu": "eu-west-1", "us": "us-east-1", "apac": "ap-southeast-2"}


def synthetic_specs(count: int) -> list[TenantSpec]:
    plans = list(PlanName)
    residencies = list(_REGIONS)
    specs = []
    for i in range(count):
        residency = residencies[i % len(residencies)]
        specs.append(
            TenantSpec.model_validate(
                {
                    "tenant_id": f"bench-{i:03d}",
                    "plan": plans[i % len(plans)].value,
                    "region": _REGIONS[residency],
                    "residency": residency,
                    "network": {"cidr": f"10.{100 + i // 16}.{(i % 16) * 16}.0/20"},
                }
            )
        )
    return specs


def timed(stacks: Path, tenants: list[str], workers: int) -> tuple[float, CheckResult]:
    started = time.perf_counter()
    result = check_stacks(stacks, tenants, workers=workers)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=24, help="synthetic tenants (max 200)")
    count = min(max(parser.parse_args().tenants, 2), 200)

    with tempfile.TemporaryDirectory() as tmp:
        stacks = Path(tmp)
        files = StackFiles(stacks)
        for spec in synthetic_specs(count):
            files.write_spec(spec)
        tenants = files.tenants()
        # Warm up: imports in this process, and the pool's fork server (started once per
        # process), so both runs measure steady-state checking.
        started = time.perf_counter()
        check_stacks(stacks, tenants[:2], workers=2)
        startup = time.perf_counter() - started

        one_wall, result = timed(stacks, tenants, workers=1)
        two_wall, two_result = timed(stacks, tenants, workers=2)

    if not (result.passed and two_result.passed):
        failed = [r.tenant for r in result.tenants if not r.passed]
        raise SystemExit(f"synthetic tenants should pass every mandatory policy; failed: {failed}")
    plan_s = sum(r.plan_seconds for r in result.tenants)
    policy_s = sum(r.policy_seconds for r in result.tenants)
    resources = sum(r.resource_count for r in result.tenants)
    policies = len(result.tenants[0].evaluated)
    print(f"tenants: {count}, resources: {resources}, policies per tenant: {policies}")
    print(f"plan time:    {plan_s:7.3f} s total, {1000 * plan_s / count:7.1f} ms per tenant")
    print(f"policy time:  {policy_s:7.3f} s total, {1000 * policy_s / count:7.1f} ms per tenant")
    print(f"policy / plan: {100 * policy_s / plan_s:6.1f} %  (target: at most 20 %)")
    print(f"pool start:   {startup:7.3f} s once per process (fork server importing the pack)")
    print(f"1 process:    {one_wall:7.3f} s wall, {count / one_wall:6.1f} tenants/s")
    print(f"2 processes:  {two_wall:7.3f} s wall, {count / two_wall:6.1f} tenants/s")
    print(f"speed-up:     {one_wall / two_wall:6.2f}x  (target: at least 1.7x)")


if __name__ == "__main__":
    main()
