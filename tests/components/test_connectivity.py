"""The private connectivity add-on: VPN gateway, sites, tunnels, routes and tunnel alarms."""

from __future__ import annotations

import pytest

from components.connectivity import DH_GROUPS, ENCRYPTION, INTEGRITY
from planner.model import TenantPlan
from tests.components.builders import only, plan_of

SITES = [
    {"name": "hq", "public_ip": "8.8.4.4", "static_routes": ["192.168.10.0/24", "192.168.20.0/24"]},
    {"name": "plant", "public_ip": "1.1.1.1", "bgp_asn": 64600},
]


@pytest.fixture(scope="module")
def enterprise() -> TenantPlan:
    return plan_of(plan="enterprise", compute={"instance_type": "m6i.large"},
                   addons={"connectivity": {"sites": SITES}})  # fmt: skip


def test_vpn_routes_reach_only_private_route_tables(enterprise: TenantPlan) -> None:
    tables = {t.name: t.id for t in enterprise.by_type("aws:ec2/routeTable:RouteTable")}
    private = {i for n, i in tables.items() if "private" in n}
    public = {i for n, i in tables.items() if "public" in n}
    assert private and public
    propagations = enterprise.by_type(
        "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation"
    )
    assert {p.inputs["routeTableId"] for p in propagations} == private
    gateway = only(enterprise, "aws:ec2/vpnGateway:VpnGateway")
    vpc = only(enterprise, "aws:ec2/vpc:Vpc")
    assert gateway.inputs["vpcId"] == vpc.id
    assert all(p.inputs["vpnGatewayId"] == gateway.id for p in propagations)


def test_each_site_gets_a_gateway_and_a_connection_with_strong_tunnels(
    enterprise: TenantPlan,
) -> None:
    gateways = {g.inputs["ipAddress"]: g for g in enterprise.by_type(
        "aws:ec2/customerGateway:CustomerGateway")}  # fmt: skip
    assert {ip: g.inputs["bgpAsn"] for ip, g in gateways.items()} == {
        "8.8.4.4": "65000",
        "1.1.1.1": "64600",
    }
    connections = {c.name: c for c in enterprise.by_type("aws:ec2/vpnConnection:VpnConnection")}
    hq, plant = (
        connections["testco-connectivity-hq-vpn"],
        connections["testco-connectivity-plant-vpn"],
    )
    assert hq.inputs["customerGatewayId"] == gateways["8.8.4.4"].id
    assert hq.inputs["staticRoutesOnly"] is True and plant.inputs["staticRoutesOnly"] is False
    for connection in connections.values():
        assert connection.inputs["presharedKeyStorage"] == "SecretsManager"
        for tunnel in ("tunnel1", "tunnel2"):
            assert connection.inputs[f"{tunnel}IkeVersions"] == ["ikev2"]
            for phase in ("Phase1", "Phase2"):
                assert connection.inputs[f"{tunnel}{phase}EncryptionAlgorithms"] == ENCRYPTION
                assert connection.inputs[f"{tunnel}{phase}IntegrityAlgorithms"] == INTEGRITY
                assert connection.inputs[f"{tunnel}{phase}DhGroupNumbers"] == DH_GROUPS
    routes = enterprise.by_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    assert sorted(r.inputs["destinationCidrBlock"] for r in routes) == [
        "192.168.10.0/24",
        "192.168.20.0/24",
    ]
    assert {r.inputs["vpnConnectionId"] for r in routes} == {hq.id}
    assert enterprise.stack_outputs["vpn_connection_ids"] == {"hq": hq.id, "plant": plant.id}


def test_every_tunnel_has_a_down_alarm_to_the_tenant_topic(enterprise: TenantPlan) -> None:
    topic = only(enterprise, "aws:sns/topic:Topic")
    alarms = [a for a in enterprise.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if "tunnel" in a.name]  # fmt: skip
    assert len(alarms) == 4
    watched = set()
    for alarm in alarms:
        assert alarm.inputs["namespace"] == "AWS/VPN"
        assert alarm.inputs["metricName"] == "TunnelState"
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
        assert alarm.inputs["comparisonOperator"] == "LessThanThreshold"
        watched.add(tuple(sorted(alarm.inputs["dimensions"].items())))
    assert len(watched) == 4


def test_without_the_add_on_there_is_no_vpn() -> None:
    assert not plan_of().by_type("aws:ec2/vpnGateway:VpnGateway")
