"""Quota consumption per plan, counted in offline plans of each plan's largest bundle."""

from __future__ import annotations

import pytest

from components.plans import NatStrategy, PlanName
from control_plane.cells.consumption import largest_spec, plan_consumption
from planner.program import plan_spec
from planner.quotas import count_consumption


def test_pro_consumption_from_its_plan_matches_a_hand_count() -> None:
    # Counted by hand from components/: a VPC with an internet gateway for the public
    # subnets, one NAT gateway (and Elastic IP) in each of 3 AZs, the S3 gateway endpoint,
    # the app and the default security group, one tenant key, the workload, operator and
    # flow-log roles, and 5 buckets plus the access-log bucket.
    by_hand = {
        "vpcs": 1,
        "internet-gateways": 1,
        "nat-gateways-per-az": 1,
        "elastic-ips": 3,
        "gateway-endpoints": 1,
        "security-groups": 2,
        "kms-keys": 1,
        "iam-roles": 3,
        "s3-buckets": 6,
    }

    assert plan_consumption(PlanName.PRO) == by_hand


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            PlanName.FREE,
            {
                "vpcs": 1,
                "gateway-endpoints": 1,
                "security-groups": 2,
                "kms-keys": 1,
                "iam-roles": 2,
                "s3-buckets": 1,
            },
        ),
        (PlanName.STARTER, {"elastic-ips": 1, "nat-gateways-per-az": 1, "s3-buckets": 3}),
        (PlanName.ENTERPRISE, {"elastic-ips": 3, "iam-roles": 3, "s3-buckets": 11}),
    ],
)
def test_each_plan_reserves_its_largest_bundle(plan: PlanName, expected: dict[str, int]) -> None:
    consumption = plan_consumption(plan)

    assert {k: consumption.get(k, 0) for k in expected} == expected


def test_the_largest_spec_takes_every_limit_of_its_plan() -> None:
    spec = largest_spec(PlanName.PRO)

    assert spec.effective_az_count == 3
    assert spec.effective_nat is NatStrategy.PER_AZ
    assert len(spec.storage.buckets) == 5
    assert spec.storage.table is not None and spec.operator is not None


def test_a_single_nat_gateway_counts_once_in_its_zone() -> None:
    largest = largest_spec(PlanName.PRO)
    single = largest.model_validate(
        {**largest.model_dump(mode="json"), "network": {"cidr": "10.0.0.0/20", "nat": "single"}}
    )

    used = count_consumption(plan_spec(single))

    assert (used["nat-gateways-per-az"], used["elastic-ips"]) == (1, 1)
