"""Offline runner latency: first plan, unchanged re-plan, scale change, destroy (plan mode),
and the policy pack's offline run on one plan.

Run: `.venv/bin/python benchmarks/offline_runner.py [tenants]` from the repository root.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from components.spec import TenantSpec
from control_plane.runners.offline import OfflineRunner, pack_violations
from planner.model import TenantPlan
from planner.program import plan_spec


def _spec(tenant: str, **overrides: object) -> TenantSpec:
    return TenantSpec.model_validate(
        {
            "tenant_id": tenant,
            "plan": "starter",
            "region": "eu-west-1",
            "residency": "eu",
            "network": {"cidr": "10.64.0.0/20"},
            "storage": {"table": {}},
            **overrides,
        }
    )


def _allow(spec: TenantSpec, plan: TenantPlan) -> list[str]:
    # The pack is timed on its own below; here every plan is accepted and recorded.
    return []


def _ignore(line: str) -> None:
    return None


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(tenants: int) -> None:
    timings: dict[str, list[float]] = {
        "first up": [],
        "same up": [],
        "scale up": [],
        "destroy": [],
        "policy pack": [],
    }
    with tempfile.TemporaryDirectory() as directory:
        runner = OfflineRunner(Path(directory), policy_check=_allow)
        for i in range(tenants):
            spec = _spec(f"bench-{i}")
            scaled = _spec(spec.tenant_id, compute={"desired_capacity": 2, "max_size": 3})
            timings["first up"].append(_timed(partial(runner.up, spec, _ignore)))
            timings["same up"].append(_timed(partial(runner.up, spec, _ignore)))
            timings["scale up"].append(_timed(partial(runner.up, scaled, _ignore)))
            timings["destroy"].append(_timed(partial(runner.destroy, spec, _ignore, purge=False)))
            plan = plan_spec(spec)
            timings["policy pack"].append(_timed(partial(pack_violations, spec, plan)))
    print(f"offline runner, {tenants} tenants (median / max seconds per operation)")
    for name, values in timings.items():
        print(f"  {name:<11} {statistics.median(values):6.3f} / {max(values):6.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
