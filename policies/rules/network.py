"""EC2 / VPC networking: ingress, egress, rule descriptions, default groups, flow logs, subnets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.define import Report, StackReport, linked, of_type, resource_policy, stack_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.props import as_bool, as_int, items, mapping, strings, tags_of

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"

ANYWHERE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Rule:
    """One security group rule, whatever resource shape declared it."""

    direction: str
    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]
    description: str

    @property
    def all_traffic(self) -> bool:
        return self.protocol in ("-1", "all")

    @property
    def open_to_anywhere(self) -> tuple[str, ...]:
        return tuple(c for c in self.cidrs if c in ANYWHERE)

    def ports(self) -> str:
        if self.all_traffic:
            return "all ports"
        if self.from_port == self.to_port:
            return f"port {self.from_port}"
        return f"ports {self.from_port}-{self.to_port}"


def _rule(direction: str, raw: Mapping[str, Any], cidr_keys: tuple[str, ...]) -> Rule:
    cidrs = tuple(c for key in cidr_keys for c in strings(raw.get(key)))
    return Rule(
        direction=direction,
        protocol=str(raw.get("ipProtocol", raw.get("protocol", ""))).lower(),
        from_port=as_int(raw.get("fromPort")),
        to_port=as_int(raw.get("toPort")),
        cidrs=cidrs,
        description=str(raw.get("description") or ""),
    )


def rules_of(resource_type: str, props: Mapping[str, Any]) -> Iterator[Rule]:
    """Rules of standalone rule resources and of inline `ingress`/`egress` blocks."""
    if resource_type == INGRESS_RULE:
        yield _rule("ingress", props, ("cidrIpv4", "cidrIpv6"))
    elif resource_type == EGRESS_RULE:
        yield _rule("egress", props, ("cidrIpv4", "cidrIpv6"))
    elif resource_type == LEGACY_RULE:
        yield _rule(str(props.get("type", "")), props, ("cidrBlocks", "ipv6CidrBlocks"))
    elif resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for direction in ("ingress", "egress"):
            for raw in items(props.get(direction)):
                yield _rule(direction, mapping(raw), ("cidrBlocks", "ipv6CidrBlocks"))


RULE_TYPES = (INGRESS_RULE, EGRESS_RULE, LEGACY_RULE, SECURITY_GROUP)


def _check_public_ingress(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    allowed = {int(p) for p in config["allowedPorts"]}
    for rule in rules_of(args.resource_type, args.props):
        if rule.direction != "ingress" or not rule.open_to_anywhere:
            continue
        within = (
            not rule.all_traffic
            and rule.from_port is not None
            and rule.to_port is not None
            and all(p in allowed for p in range(rule.from_port, rule.to_port + 1))
        )
        if not within:
            report(
                f"allows ingress on {rule.ports()} from {', '.join(rule.open_to_anywhere)}; "
                f"only ports {sorted(allowed)} may be open to the internet"
            )


vpc_security_group_disallow_public_ingress = resource_policy(
    name="aws-vpc-security-group-disallow-public-ingress",
    description="Security groups accept traffic from 0.0.0.0/0 or ::/0 only on allowed ports.",
    severity=Severity.CRITICAL,
    controls=(
        cis("5.2"),
        cis("5.3"),
        pci("1.3.1"),
        hipaa("164.312(e)(1)"),
        soc2("CC6.6"),
        iso("A.8.20"),
    ),
    remediation="Restrict the source CIDR to known networks, or open only an allowed port.",
    resource_types=RULE_TYPES,
    check=_check_public_ingress,
    config={
        "allowedPorts": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
            "default": [443],
            "description": "Ports that may accept traffic from anywhere.",
        }
    },
    topics=("network",),
)


def _check_unrestricted_egress(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for rule in rules_of(args.resource_type, args.props):
        if rule.direction == "egress" and rule.all_traffic and rule.open_to_anywhere:
            report(f"allows all egress to {', '.join(rule.open_to_anywhere)}")


vpc_security_group_disallow_unrestricted_egress = resource_policy(
    name="aws-vpc-security-group-disallow-unrestricted-egress",
    description="Security groups do not allow all traffic out to anywhere.",
    severity=Severity.LOW,
    controls=(pci("1.3.2"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Limit egress to the protocols, ports and destinations the workload needs.",
    resource_types=RULE_TYPES,
    check=_check_unrestricted_egress,
    enforcement=EnforcementLevel.ADVISORY,
    topics=("network",),
)


def _check_rule_description(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for rule in rules_of(args.resource_type, args.props):
        if len(rule.description.strip()) < 3:
            report(f"has an {rule.direction} rule on {rule.ports()} without a description")


vpc_security_group_missing_rule_description = resource_policy(
    name="aws-vpc-security-group-missing-rule-description",
    description="Every security group rule says why it exists.",
    severity=Severity.LOW,
    controls=(pci("1.2.5"), soc2("CC8.1"), iso("A.8.9")),
    remediation="Give the rule a description (at least 3 characters).",
    resource_types=RULE_TYPES,
    check=_check_rule_description,
    topics=("network", "documentation"),
)


def _check_default_group(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for direction in ("ingress", "egress"):
        count = len(items(args.props.get(direction)))
        if count:
            report(f"has {count} {direction} rule(s); the default group must allow nothing")


ec2_default_security_group_disallow_rules = resource_policy(
    name="aws-ec2-default-security-group-disallow-rules",
    description="The default security group of every VPC restricts all traffic.",
    severity=Severity.HIGH,
    controls=(cis("5.4"), pci("1.3.1"), soc2("CC6.6"), iso("A.8.22")),
    remediation="Declare aws.ec2.DefaultSecurityGroup with no ingress and no egress.",
    resource_types=(DEFAULT_SECURITY_GROUP,),
    check=_check_default_group,
    topics=("network",),
)


def _check_flow_logs(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    flow_logs = of_type(args, FLOW_LOG)
    for vpc in of_type(args, VPC):
        if not any(linked(f, vpc, "vpcId") for f in flow_logs):
            report(vpc, "has no flow log (aws.ec2.FlowLog)")


ec2_vpc_missing_flow_logs = stack_policy(
    name="aws-ec2-vpc-missing-flow-logs",
    description="Every VPC records flow logs.",
    severity=Severity.MEDIUM,
    controls=(cis("3.9"), pci("10.2.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Add an aws.ec2.FlowLog for the VPC (traffic_type ALL, to an encrypted log group).",
    resource_types=(VPC, FLOW_LOG),
    check=_check_flow_logs,
    topics=("network", "logging"),
)


def _check_subnet_public_ip(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    tier = tags_of(args.props).get(config["tierTag"], "")
    if tier in config["publicTiers"]:
        args.not_applicable(f"subnet is in the public tier {tier!r}")
    if as_bool(args.props.get("mapPublicIpOnLaunch")) is True:
        report(f"(tier {tier or 'untagged'!s}) gives instances a public IP on launch")


ec2_subnet_disallow_public_ip_on_launch = resource_policy(
    name="aws-ec2-subnet-disallow-public-ip-on-launch",
    description="Private subnets do not assign public IPs on launch.",
    severity=Severity.HIGH,
    controls=(pci("1.4.4"), soc2("CC6.6"), iso("A.8.22")),
    remediation="Set map_public_ip_on_launch=False, or tag the subnet as public if it is one.",
    resource_types=(SUBNET,),
    check=_check_subnet_public_ip,
    config={
        "tierTag": {"type": "string", "default": "tier", "description": "Tag naming the tier."},
        "publicTiers": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["public"],
            "description": "Tier tag values of public subnets.",
        },
    },
    topics=("network",),
)
