"""The AWS service quotas a bundle consumes, and counting them in an offline plan.

Shared by the control plane (placing tenants in cells) and the policy gate (no cell over
a quota): both count the same resources against the same quotas.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from planner.model import TenantPlan

ACCOUNT_SCOPE = "account"
"""Key of the account-wide quotas in a cell's quota table (regional ones are by region)."""


class Scope(StrEnum):
    """What one unit of a quota is counted over."""

    REGION = "region"
    ACCOUNT = "account"
    AVAILABILITY_ZONE = "availability-zone"
    """Per AZ: a tenant's use is its busiest AZ (every bundle starts at the region's first)."""


@dataclass(frozen=True)
class Quota:
    """One service quota a bundle consumes."""

    key: str
    """Short name used in the registry, tables and messages."""
    title: str
    """The quota's name in Service Quotas."""
    service_code: str
    quota_code: str
    scope: Scope
    resource_types: tuple[str, ...]
    """Pulumi types whose planned resources each take one unit."""
    aws_default: float
    """The value AWS gives a new account (what the local sandbox answers)."""


QUOTAS: tuple[Quota, ...] = (
    Quota("vpcs", "VPCs per Region", "vpc", "L-F678F1CE", Scope.REGION, ("aws:ec2/vpc:Vpc",), 5),
    Quota(
        "internet-gateways",
        "Internet gateways per Region",
        "vpc",
        "L-A4707A72",
        Scope.REGION,
        ("aws:ec2/internetGateway:InternetGateway",),
        5,
    ),
    Quota(
        "nat-gateways-per-az",
        "NAT gateways per Availability Zone",
        "vpc",
        "L-FE5A380F",
        Scope.AVAILABILITY_ZONE,
        ("aws:ec2/natGateway:NatGateway",),
        5,
    ),
    Quota(
        "elastic-ips",
        "EC2-VPC Elastic IPs",
        "ec2",
        "L-0263D0A3",
        Scope.REGION,
        ("aws:ec2/eip:Eip",),
        5,
    ),
    Quota(
        "gateway-endpoints",
        "Gateway VPC endpoints per Region",
        "vpc",
        "L-1B52E74A",
        Scope.REGION,
        ("aws:ec2/vpcEndpoint:VpcEndpoint",),
        20,
    ),
    Quota(
        "security-groups",
        "VPC security groups per Region",
        "vpc",
        "L-E79EC296",
        Scope.REGION,
        (
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        ),
        2500,
    ),
    Quota(
        "kms-keys",
        "Customer Master Keys (CMKs)",
        "kms",
        "L-C2F1777E",
        Scope.REGION,
        ("aws:kms/key:Key",),
        100000,
    ),
    Quota(
        "iam-roles",
        "Roles per account",
        "iam",
        "L-FE177D64",
        Scope.ACCOUNT,
        ("aws:iam/role:Role",),
        1000,
    ),
    Quota(
        "s3-buckets",
        "General purpose buckets",
        "s3",
        "L-DC2B2D3D",
        Scope.ACCOUNT,
        ("aws:s3/bucket:Bucket",),
        10000,
    ),
)
QUOTAS_BY_KEY = {q.key: q for q in QUOTAS}


Consumption = dict[str, int]
"""Units per quota key (only quotas the plan uses)."""


def count_consumption(plan: TenantPlan) -> Consumption:
    """Quota units the resources of one offline plan take."""
    by_type = Counter(r.type for r in plan.resources if r.custom)
    zones = {
        r.id: str(r.inputs.get("availabilityZone", ""))
        for r in plan.resources
        if r.type == "aws:ec2/subnet:Subnet"
    }
    used: Consumption = {}
    for quota in QUOTAS:
        if quota.scope is Scope.AVAILABILITY_ZONE:
            per_zone = Counter(
                zones.get(str(r.inputs.get("subnetId")), "")
                for r in plan.resources
                if r.type in quota.resource_types
            )
            count = max(per_zone.values(), default=0)
        else:
            count = sum(by_type[t] for t in quota.resource_types)
        if count:
            used[quota.key] = count
    return used
