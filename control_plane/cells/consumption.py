"""What one tenant of a plan takes from a cell's quotas, counted in the plan's offline plan.

Each plan is planned once per process at its limits (most AZs, the NAT strategy with the
most gateways, every bucket, the table and the operator role where allowed): the most a
tenant can reach without changing plans. A placement reserves that much, so changes within
the plan never need a quota check and a plan change is checked once.
"""

from __future__ import annotations

import functools
import ipaddress

from components.plans import NatStrategy, PlanName, get_plan
from components.spec import (
    BucketSpec,
    NetworkSpec,
    OperatorAccess,
    Residency,
    StorageSpec,
    TableSpec,
    TenantSpec,
)
from planner.program import plan_spec
from planner.quotas import Consumption, count_consumption

# Ordered by how many NAT gateways (and Elastic IPs) the strategy creates.
_NAT_RANK = {NatStrategy.NONE: 0, NatStrategy.SINGLE: 1, NatStrategy.PER_AZ: 2}
_PROBE_TENANT = "quota-probe"


def largest_spec(plan: PlanName) -> TenantSpec:
    """The spec of `plan` that takes the most of every quota."""
    entry = get_plan(plan)
    limits = entry.limits
    nat = max(limits.nat_strategies, key=_NAT_RANK.__getitem__)
    buckets = tuple(BucketSpec(role=f"bucket-{i}") for i in range(1, limits.max_buckets + 1))
    return TenantSpec(
        tenant_id=_PROBE_TENANT,
        plan=plan,
        region="eu-west-1",
        residency=Residency.EU,
        network=NetworkSpec(
            cidr=ipaddress.IPv4Network("10.0.0.0/20"), az_count=limits.max_az_count, nat=nat
        ),
        storage=StorageSpec(buckets=buckets, table=TableSpec() if limits.table else None),
        operator=(
            OperatorAccess(account_id="210987654321", external_id="quota-probe-external-id")
            if limits.operator_role
            else None
        ),
    )


@functools.cache
def plan_consumption(plan: PlanName) -> Consumption:
    """Quota units one tenant of `plan` reserves in its cell (planned once per process)."""
    return count_consumption(plan_spec(largest_spec(plan)))
