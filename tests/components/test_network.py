"""Network: AZ count and NAT by plan, private subnets, locked default group, flow logs."""

from __future__ import annotations

import ipaddress

import pytest

from tests.components.builders import document, only, plan_of

SUBNET = "aws:ec2/subnet:Subnet"


@pytest.mark.parametrize(
    ("plan", "overrides", "azs", "nat_gateways"),
    [
        ("free", {}, 1, 0),
        ("starter", {}, 2, 1),
        ("pro", {}, 2, 1),
        ("pro", {"az_count": 3, "nat": "per-az"}, 3, 3),
        ("enterprise", {}, 3, 3),
    ],
)
def test_az_count_and_nat_follow_the_plan(
    plan: str, overrides: dict[str, object], azs: int, nat_gateways: int
) -> None:
    result = plan_of(plan=plan, network={"cidr": "10.80.0.0/20", **overrides})
    private = [s for s in result.by_type(SUBNET) if s.inputs["tags"]["tier"] == "private"]
    public = [s for s in result.by_type(SUBNET) if s.inputs["tags"]["tier"] == "public"]
    assert len(private) == azs
    assert len({s.inputs["availabilityZone"] for s in private}) == azs
    assert len(result.by_type("aws:ec2/natGateway:NatGateway")) == nat_gateways
    assert len(public) == (azs if nat_gateways else 0)
    assert bool(result.by_type("aws:ec2/internetGateway:InternetGateway")) == bool(nat_gateways)


def test_subnets_are_inside_the_vpc_disjoint_and_never_map_public_ips() -> None:
    plan = plan_of(plan="enterprise", network={"cidr": "10.80.0.0/20"})
    vpc = ipaddress.ip_network(only(plan, "aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    nets = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in plan.by_type(SUBNET)]
    assert all(n.subnet_of(vpc) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in plan.by_type(SUBNET))


def test_private_routes_go_through_nat_only() -> None:
    plan = plan_of(plan="enterprise", network={"cidr": "10.80.0.0/20"})
    nat_ids = {n.id for n in plan.by_type("aws:ec2/natGateway:NatGateway")}
    routes = plan.by_type("aws:ec2/route:Route")
    private_routes = [r for r in routes if "private" in r.name]
    assert len(private_routes) == 3
    assert all("natGatewayId" in r.inputs and "gatewayId" not in r.inputs for r in private_routes)
    assert {r.inputs["natGatewayId"] for r in private_routes} == nat_ids
    assert len(nat_ids) == 3


def test_default_security_group_is_managed_with_no_rules() -> None:
    sg = only(plan_of(), "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not sg.inputs.get("ingress")
    assert not sg.inputs.get("egress")


def test_app_security_group_has_explicit_described_ingress_and_https_egress() -> None:
    plan = plan_of(
        network={
            "cidr": "10.80.0.0/20",
            "ingress": [{"port": 8443, "cidr": "192.168.10.0/24", "description": "partner API"}],
        }
    )
    ingress = plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert {(r.inputs["fromPort"], r.inputs["cidrIpv4"]) for r in ingress} == {
        (443, "10.80.0.0/20"),
        (8443, "192.168.10.0/24"),
    }
    assert all(r.inputs["description"] for r in ingress)
    egress = only(plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert (egress.inputs["ipProtocol"], egress.inputs["fromPort"], egress.inputs["toPort"]) == (
        "tcp",
        443,
        443,
    )


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group_with_retention() -> None:
    plan = plan_of(storage={"retention_days": 100})
    key_arn = only(plan, "aws:kms/key:Key").outputs["arn"]
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["kmsKeyId"] == key_arn
    assert group.inputs["retentionInDays"] == 120  # rounded up to a value CloudWatch accepts
    flow = only(plan, "aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert flow.inputs["vpcId"] == only(plan, "aws:ec2/vpc:Vpc").id
    role = next(r for r in plan.by_type("aws:iam/role:Role") if "flow-logs" in r.name)
    trust = document(role, "assumeRolePolicy")
    assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert role.inputs["permissionsBoundary"]


def test_s3_gateway_endpoint_serves_every_private_route_table() -> None:
    plan = plan_of(plan="enterprise", network={"cidr": "10.80.0.0/20"})
    endpoint = only(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    private_tables = [
        t for t in plan.by_type("aws:ec2/routeTable:RouteTable") if "private" in t.name
    ]
    assert len(endpoint.inputs["routeTableIds"]) == len(private_tables) == 3
