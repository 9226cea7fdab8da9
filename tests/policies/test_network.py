"""Security groups, default groups, flow logs and subnets."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import network
from tests.policies.harness import TAGS, changed, evaluate, res, violations

INGRESS: dict[str, Any] = {
    "securityGroupId": "sg-1",
    "ipProtocol": "tcp",
    "fromPort": 443,
    "toPort": 443,
    "cidrIpv4": "10.64.0.0/20",
    "description": "HTTPS from inside the tenant VPC",
}
EGRESS: dict[str, Any] = {
    "securityGroupId": "sg-1",
    "ipProtocol": "tcp",
    "fromPort": 443,
    "toPort": 443,
    "cidrIpv4": "0.0.0.0/0",
    "description": "HTTPS to AWS APIs",
}


def ingress(inputs: dict[str, Any]) -> Any:
    return res(network.INGRESS_RULE, "acme-app-ingress-0", inputs, tags=TAGS)


def egress(inputs: dict[str, Any]) -> Any:
    return res(network.EGRESS_RULE, "acme-app-egress", inputs, tags=TAGS)


RULE_POLICIES = [
    network.vpc_security_group_disallow_public_ingress,
    network.vpc_security_group_disallow_unrestricted_egress,
    network.vpc_security_group_missing_rule_description,
]


@pytest.mark.parametrize("policy", RULE_POLICIES, ids=lambda p: p.name)
def test_baseline_rules_pass(policy: Any) -> None:
    assert violations(policy, ingress(INGRESS), egress(EGRESS)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22}, "on port 22 from 0.0.0.0/0"),
        (
            {"cidrIpv4": None, "cidrIpv6": "::/0", "fromPort": 3389, "toPort": 3389},
            "on port 3389 from ::/0",
        ),
        ({"cidrIpv4": "0.0.0.0/0", "fromPort": 400, "toPort": 500}, "on ports 400-500"),
        (
            {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1", "fromPort": None, "toPort": None},
            "on all ports",
        ),
    ],
)
def test_public_ingress_outside_allowed_ports(change: dict[str, Any], expected: str) -> None:
    inputs = dict(INGRESS)
    for key, value in change.items():
        inputs = changed(inputs, key, value)
    [message] = violations(network.vpc_security_group_disallow_public_ingress, ingress(inputs))
    assert message.startswith("SecurityGroupIngressRule 'acme-app-ingress-0' allows ingress")
    assert expected in message
    assert "only ports [443] may be open to the internet" in message


def test_public_https_is_allowed_and_ports_are_configurable() -> None:
    open_443 = changed(INGRESS, "cidrIpv4", "0.0.0.0/0")
    assert violations(network.vpc_security_group_disallow_public_ingress, ingress(open_443)) == []
    open_8080 = changed(changed(open_443, "fromPort", 8080), "toPort", 8080)
    policy = network.vpc_security_group_disallow_public_ingress
    assert len(violations(policy, ingress(open_8080))) == 1
    assert violations(policy, ingress(open_8080), config={"allowedPorts": [8080, 443]}) == []


def test_inline_and_legacy_rule_shapes_are_checked() -> None:
    group = res(
        network.SECURITY_GROUP,
        "legacy-sg",
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "description": "ssh",
                }
            ]
        },
    )
    rule = res(
        network.LEGACY_RULE,
        "legacy-rule",
        {
            "type": "ingress",
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "cidrBlocks": ["0.0.0.0/0"],
            "securityGroupId": "sg-1",
        },
    )
    messages = violations(network.vpc_security_group_disallow_public_ingress, group, rule)
    assert [m.split(" allows")[0] for m in messages] == [
        "SecurityGroup 'legacy-sg'",
        "SecurityGroupRule 'legacy-rule'",
    ]


def test_unrestricted_egress_is_advisory() -> None:
    all_out = changed(
        changed(changed(EGRESS, "ipProtocol", "-1"), "fromPort", None), "toPort", None
    )
    [finding] = evaluate(
        network.vpc_security_group_disallow_unrestricted_egress, egress(all_out)
    ).findings
    assert finding.enforcement == "advisory"
    assert (
        finding.message
        == "SecurityGroupEgressRule 'acme-app-egress' allows all egress to 0.0.0.0/0"
    )


@pytest.mark.parametrize("description", [None, "", "  "])
def test_rule_without_description(description: Any) -> None:
    inputs = changed(INGRESS, "description", description)  # None removes it
    assert violations(network.vpc_security_group_missing_rule_description, ingress(inputs)) == [
        "SecurityGroupIngressRule 'acme-app-ingress-0' has an ingress rule on port 443 without a "
        "description"
    ]


def test_default_security_group() -> None:
    locked = res(network.DEFAULT_SECURITY_GROUP, "default-sg", {"vpcId": "vpc-1"}, tags=TAGS)
    assert violations(network.ec2_default_security_group_disallow_rules, locked) == []
    opened = res(
        network.DEFAULT_SECURITY_GROUP,
        "default-sg",
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}],
        },
    )
    assert violations(network.ec2_default_security_group_disallow_rules, opened) == [
        "DefaultSecurityGroup 'default-sg' has 1 ingress rule(s); "
        "the default group must allow nothing"
    ]


def test_every_vpc_needs_a_flow_log() -> None:
    vpc = res(network.VPC, "acme-vpc", {"cidrBlock": "10.64.0.0/20"}, tags=TAGS)
    other = res(network.VPC, "acme-vpc-2", {"cidrBlock": "10.65.0.0/20"}, tags=TAGS)
    flow = res(
        network.FLOW_LOG, "acme-flow", {"vpcId": "vpc-abc", "trafficType": "ALL"}, depends_on=(vpc,)
    )
    policy = network.ec2_vpc_missing_flow_logs
    assert violations(policy, vpc, flow) == []
    assert violations(policy, vpc, other, flow) == [
        "Vpc 'acme-vpc-2' has no flow log (aws.ec2.FlowLog)"
    ]


def test_private_subnets_never_map_public_ips() -> None:
    policy = network.ec2_subnet_disallow_public_ip_on_launch
    private = {"vpcId": "vpc-1", "cidrBlock": "10.64.0.0/24", "mapPublicIpOnLaunch": True}
    subnet = res(network.SUBNET, "acme-private-a", private, tags={**TAGS, "tier": "private"})
    assert violations(policy, subnet) == [
        "Subnet 'acme-private-a' (tier private) gives instances a public IP on launch"
    ]
    public = res(network.SUBNET, "acme-public-a", private, tags={**TAGS, "tier": "public"})
    result = evaluate(policy, public)
    assert result.findings == ()
    assert [n.reason for n in result.not_applicable] == ["subnet is in the public tier 'public'"]
    closed = res(
        network.SUBNET,
        "acme-private-a",
        changed(private, "mapPublicIpOnLaunch", False),
        tags={**TAGS, "tier": "private"},
    )
    assert violations(policy, closed) == []


def group(*ingress: dict[str, Any], egress: tuple[dict[str, Any], ...] = ()) -> Any:
    return res(
        network.SECURITY_GROUP,
        "acme-sg",
        {"vpcId": "vpc-1", "ingress": list(ingress), "egress": list(egress)},
        outputs={"id": "sg-1"},
        tags=TAGS,
    )


def block(port: int, *cidrs: str, protocol: str = "tcp", ipv6: bool = False) -> dict[str, Any]:
    key = "ipv6CidrBlocks" if ipv6 else "cidrBlocks"
    return {
        "protocol": protocol,
        "fromPort": port,
        "toPort": port,
        key: list(cidrs),
        "description": "d" * 5,
    }


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ((block(22, "0.0.0.0/1", "128.0.0.0/1"),), "on port 22 from 0.0.0.0/1, 128.0.0.0/1"),
        ((block(22, "0.0.0.0/1"), block(22, "128.0.0.0/1")), "on port 22 from 0.0.0.0/1"),
        ((block(3389, "2000::/3", ipv6=True),), "on port 3389 from 2000::/3"),
        ((block(22, "52.94.0.0/16"), block(22, "52.95.0.0/16")), "52.94.0.0/16, 52.95.0.0/16"),
        ((block(53, "0.0.0.0/0", protocol="udp"),), "on udp port 53 from 0.0.0.0/0"),
        ((block(0, "::/0", protocol="icmpv6"),), "on protocol icmpv6 from ::/0"),
    ],
)
def test_ranges_that_add_up_to_the_internet(rules: tuple[Any, ...], expected: str) -> None:
    [message] = violations(network.vpc_security_group_disallow_public_ingress, group(*rules))
    assert message.startswith("SecurityGroup 'acme-sg' allows ingress")
    assert expected in message


@pytest.mark.parametrize(
    "rules",
    [
        (block(22, "198.51.100.0/24"),),  # an office range
        (block(22, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),),
        (block(22, "52.94.0.0/16"),),  # a known-sized public range
        (block(443, "0.0.0.0/0"), block(443, "::/0", ipv6=True)),
        (block(22, "52.94.0.0/16"), block(80, "52.95.0.0/16")),  # different ports do not add up
    ],
)
def test_compliant_look_alikes(rules: tuple[Any, ...]) -> None:
    policies = (
        network.vpc_security_group_disallow_public_ingress,
        network.vpc_security_group_disallow_combined_public_ingress,
    )
    for policy in policies:
        assert violations(policy, group(*rules)) == []


def test_internet_size_is_configurable() -> None:
    office = group(block(22, "52.94.0.0/20"))
    policy = network.vpc_security_group_disallow_public_ingress
    assert violations(policy, office) == []
    assert len(violations(policy, office, config={"internetPrefixIpv4": 24})) == 1


@pytest.mark.parametrize(
    ("protocol", "ports", "expected"),
    [
        ("tcp", (0, 65535), "allows egress on every tcp port to 0.0.0.0/0"),
        ("udp", (1, 65535), "allows egress on every udp port to 0.0.0.0/0"),
        ("6", (0, 65535), "allows egress on every tcp port to 0.0.0.0/0"),
        ("all", (0, 0), "allows all egress to 0.0.0.0/0"),
        ("47", (0, 0), "allows all egress of protocol 47 to 0.0.0.0/0"),
    ],
)
def test_egress_on_every_port_of_any_protocol(
    protocol: str, ports: tuple[int, int], expected: str
) -> None:
    rule = {**EGRESS, "ipProtocol": protocol, "fromPort": ports[0], "toPort": ports[1]}
    assert violations(network.vpc_security_group_disallow_unrestricted_egress, egress(rule)) == [
        f"SecurityGroupEgressRule 'acme-app-egress' {expected}"
    ]


@pytest.mark.parametrize(
    ("protocol", "ports"), [("tcp", (443, 443)), ("tcp", (1024, 65535)), ("icmp", (-1, -1))]
)
def test_egress_look_alikes(protocol: str, ports: tuple[int, int]) -> None:
    rule = {**EGRESS, "ipProtocol": protocol, "fromPort": ports[0], "toPort": ports[1]}
    assert violations(network.vpc_security_group_disallow_unrestricted_egress, egress(rule)) == []


def standalone(name: str, type_: str, cidr: str, port: int, group_id: str = "sg-1") -> Any:
    inputs = {
        "securityGroupId": group_id,
        "ipProtocol": "tcp",
        "fromPort": port,
        "toPort": port,
        "cidrIpv4": cidr,
        "description": "split range",
    }
    return res(type_, name, inputs, tags=TAGS)


def test_standalone_rules_of_one_group_are_judged_together() -> None:
    sg = group()
    low = standalone("acme-low", network.INGRESS_RULE, "0.0.0.0/1", 22)
    high = standalone("acme-high", network.INGRESS_RULE, "128.0.0.0/1", 22)
    small_a = standalone("acme-a", network.INGRESS_RULE, "52.94.0.0/16", 5432)
    small_b = standalone("acme-b", network.INGRESS_RULE, "52.95.0.0/16", 5432)
    policy = network.vpc_security_group_disallow_combined_public_ingress
    # Each half is the internet on its own: the resource policy reports them, not this one.
    assert violations(policy, sg, low, high) == []
    assert violations(policy, sg, small_a, small_b) == [
        "SecurityGroup 'acme-sg' has rules (acme-a, acme-b) that together allow ingress on port "
        "5432 from 52.94.0.0/16, 52.95.0.0/16; only ports [443] may be open to the internet"
    ]
    assert violations(network.vpc_security_group_disallow_public_ingress, small_a, small_b) == []


def test_rules_of_different_groups_do_not_add_up() -> None:
    policy = network.vpc_security_group_disallow_combined_public_ingress
    a = standalone("acme-a", network.INGRESS_RULE, "52.94.0.0/16", 5432, group_id="sg-1")
    b = standalone("acme-b", network.INGRESS_RULE, "52.95.0.0/16", 5432, group_id="sg-2")
    assert violations(policy, group(), a, b) == []


def test_rules_of_a_group_outside_the_stack_are_judged_together() -> None:
    policy = network.vpc_security_group_disallow_combined_public_ingress
    a = standalone("acme-a", network.INGRESS_RULE, "52.94.0.0/16", 5432, group_id="sg-ext")
    b = standalone("acme-b", network.INGRESS_RULE, "52.95.0.0/16", 5432, group_id="sg-ext")
    [message] = violations(policy, a, b)
    assert message.startswith(
        "SecurityGroupIngressRule 'acme-a' is one of the rules of security group 'sg-ext' "
        "(acme-a, acme-b) that together allow ingress on port 5432"
    )


def test_combined_egress_is_advisory() -> None:
    policy = network.vpc_security_group_disallow_combined_unrestricted_egress
    low = {**EGRESS, "fromPort": 0, "toPort": 32767}
    high = {**EGRESS, "fromPort": 32768, "toPort": 65535}
    rules = [
        res(network.EGRESS_RULE, "acme-low", low, tags=TAGS),
        res(network.EGRESS_RULE, "acme-high", high, tags=TAGS),
    ]
    [finding] = evaluate(policy, group(), *rules).findings
    assert finding.enforcement == "advisory"
    assert finding.message == (
        "SecurityGroup 'acme-sg' has rules (acme-low, acme-high) that together allow egress on "
        "every tcp port to 0.0.0.0/0"
    )
