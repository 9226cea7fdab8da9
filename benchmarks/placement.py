"""Cell placement cost: planning what each plan consumes (once per process), and what
placement adds to `tenants create` (SQLite registry, moto for Service Quotas and STS).

Run: `.venv/bin/python -m benchmarks.placement --tenants 40 --cells 4` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from moto import mock_aws

from components.plans import PlanName
from control_plane.cells.consumption import plan_consumption
from control_plane.cells.sandbox_quotas import AWS_DEFAULTS, sandbox_quotas
from control_plane.cells.service import CellService
from control_plane.registry.database import open_database
from control_plane.service import TenantService
from control_plane.settings import Settings


def _creates(directory: Path, tenants: int, cells: int) -> list[float]:
    settings = Settings(
        data_dir=directory / "data", stacks_dir=directory / "stacks", runner="offline"
    )
    database = open_database(settings.registry_url)
    service = TenantService(database, settings)
    cell_service = CellService(database, settings)
    for i in range(cells):
        account = f"31000000{i:04d}"
        cell_service.add(
            f"eu-pool-{i}",
            account_id=account,
            role_arn=f"arn:aws:iam::{account}:role/tenants-cell",
            regions=["eu-west-1"],
            headroom_percent=0,
        )
    timings = []
    for i in range(tenants):
        data = {"tenant_id": f"bench-{i:03d}", "plan": "free", "region": "eu-west-1"}
        start = time.perf_counter()
        service.create({**data, "residency": "eu"}, actor="benchmark")
        timings.append(time.perf_counter() - start)
    database.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=40)
    parser.add_argument("--cells", type=int, default=4)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    for plan in PlanName:
        start = time.perf_counter()
        consumption = plan_consumption(plan)
        print(f"{plan.value:>10}: planned in {time.perf_counter() - start:5.2f} s  {consumption}")

    # Room for every tenant: VPCs are the binding quota of the free plan.
    per_cell = -(-args.tenants // args.cells)
    with mock_aws(), sandbox_quotas({**AWS_DEFAULTS, ("vpc", "L-F678F1CE"): float(per_cell)}):
        for cells in (0, args.cells):
            with tempfile.TemporaryDirectory() as directory:
                timings = _creates(Path(directory), args.tenants, cells)
            median = statistics.median(timings) * 1000
            p95 = sorted(timings)[int(len(timings) * 0.95) - 1] * 1000
            print(
                f"tenants create with {cells} cells: median {median:.1f} ms, "
                f"p95 {p95:.1f} ms over {len(timings)} tenants"
            )


if __name__ == "__main__":
    main()
