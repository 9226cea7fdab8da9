"""EC2 / VPC networking: ingress, egress, rule descriptions, default groups, flow logs, subnets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.define import (
    Report,
    StackReport,
    linked,
    of_type,
    resource_policy,
    stack_policy,
    within,
)
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.networks import (
    ALL,
    INTERNET_CONFIG,
    PORT_PROTOCOLS,
    Exposure,
    Flow,
    exposures,
    internet_size,
    open_ports,
    opens_every_port,
    port_range,
    protocol_name,
)
from policies.props import (
    as_bool,
    as_int,
    items,
    kind_of,
    known,
    mapping,
    objects,
    resolved,
    strings,
    tags_of,
    text,
)
from policies.rules.load_balancing import (
    LISTENER_RULES,
    LISTENERS,
    LOAD_BALANCERS,
    redirects_to_https,
)

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNET = "aws:ec2/subnet:Subnet"

_V2_CIDRS = ("cidrIpv4", "cidrIpv6")
_BLOCK_CIDRS = ("cidrBlocks", "ipv6CidrBlocks")


@dataclass(frozen=True)
class Rule:
    """One security group rule, whatever resource shape declared it; fields are read on use."""

    raw: Any
    """The rule's props (the rule resource's own, or one inline `ingress`/`egress` block)."""
    cidr_keys: tuple[str, ...]
    source: str
    """Where it is declared, for messages: the rule resource or `<group> ingress rule 0`."""
    declared_direction: str | None = None
    """`ingress`/`egress` when the shape fixes it; else the legacy rule's `type` says."""

    @property
    def direction(self) -> str:
        if self.declared_direction is not None:
            return self.declared_direction
        return text(mapping(self.raw).get("type")).lower()

    @property
    def description(self) -> str:
        return text(mapping(self.raw).get("description"))

    def flow(self) -> Flow:
        raw = mapping(self.raw)
        protocol = protocol_name(resolved(raw.get("ipProtocol", raw.get("protocol"))))
        ports = port_range(protocol, as_int(raw.get("fromPort")), as_int(raw.get("toPort")))
        cidrs = tuple(c for key in self.cidr_keys for c in strings(raw.get(key)))
        return Flow(self.source, protocol, ports, cidrs)


def rules_of(resource_type: str, props: Mapping[str, Any], name: str) -> list[Rule]:
    """Rules of standalone rule resources and of inline `ingress`/`egress` blocks."""
    if resource_type == INGRESS_RULE:
        return [Rule(props, _V2_CIDRS, name, "ingress")]
    if resource_type == EGRESS_RULE:
        return [Rule(props, _V2_CIDRS, name, "egress")]
    if resource_type == LEGACY_RULE:
        return [Rule(props, _BLOCK_CIDRS, name)]
    found: list[Rule] = []
    if resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for direction in ("ingress", "egress"):
            with within():
                for index, raw in enumerate(items(props.get(direction))):
                    where = f"{name} {direction} rule {index}"
                    found.append(Rule(raw, _BLOCK_CIDRS, where, direction))
    return found


def flows_of(rules: Iterable[Rule], direction: str) -> list[Flow]:
    """The traffic the rules of one direction allow; a rule with unknown fields is held back."""
    found: list[Flow] = []
    for rule in rules:
        with within():
            if rule.direction == direction:
                found.append(rule.flow())
    return found


RULE_TYPES = (INGRESS_RULE, EGRESS_RULE, LEGACY_RULE, SECURITY_GROUP)
_NETWORK_CONFIG = {
    "allowedPorts": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 65535},
        "default": [443],
        "description": "Ports that may accept traffic from the internet.",
    },
    **INTERNET_CONFIG,
}


HTTP_PORT = 80
"""Open to the internet only on a load balancer that answers it with redirects to HTTPS:
the rules of single resources leave it to `aws-vpc-security-group-disallow-public-http-ingress`,
which sees the load balancer and its listeners."""


def _allowed_ports(config: Mapping[str, Any]) -> list[int]:
    return sorted({int(p) for p in config["allowedPorts"]})


def _http_only(exposure: Exposure, allowed: list[int]) -> bool:
    """Whether the exposure opens TCP port 80 and nothing else outside the allowed ports."""
    if exposure.protocol != "tcp" or HTTP_PORT in allowed:
        return False
    first, last = exposure.ports
    return first <= HTTP_PORT <= last and not open_ports(exposure, [*allowed, HTTP_PORT])


def _ingress_problems(flows: list[Flow], config: Mapping[str, Any]) -> list[Exposure]:
    allowed = _allowed_ports(config)
    return [
        e
        for e in exposures(flows, internet_size(config))
        if open_ports(e, allowed) and not _http_only(e, allowed)
    ]


def _ingress_message(exposure: Exposure, config: Mapping[str, Any], verb: str = "allows") -> str:
    return (
        f"{verb} ingress on {exposure.describe()} from {', '.join(exposure.cidrs)}; "
        f"only ports {_allowed_ports(config)} may be open to the internet"
    )


def _check_public_ingress(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    flows = flows_of(rules_of(args.resource_type, args.props, args.name), "ingress")
    for exposure in _ingress_problems(flows, config):
        report(_ingress_message(exposure, config))


vpc_security_group_disallow_public_ingress = resource_policy(
    name="aws-vpc-security-group-disallow-public-ingress",
    description="Security groups accept traffic from the internet only on allowed ports.",
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
    config=_NETWORK_CONFIG,
    topics=("network",),
)


def _egress_problems(flows: list[Flow], config: Mapping[str, Any]) -> list[Exposure]:
    return [e for e in exposures(flows, internet_size(config)) if opens_every_port(e)]


def _egress_message(exposure: Exposure, verb: str = "allows") -> str:
    where = ", ".join(exposure.cidrs)
    if exposure.protocol == ALL:
        return f"{verb} all egress to {where}"
    if exposure.protocol in PORT_PROTOCOLS:
        return f"{verb} egress on every {exposure.protocol} port to {where}"
    return f"{verb} all egress of protocol {exposure.protocol} to {where}"


def _check_unrestricted_egress(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    flows = flows_of(rules_of(args.resource_type, args.props, args.name), "egress")
    for exposure in _egress_problems(flows, config):
        report(_egress_message(exposure))


vpc_security_group_disallow_unrestricted_egress = resource_policy(
    name="aws-vpc-security-group-disallow-unrestricted-egress",
    description="Security groups do not allow every port of a protocol out to the internet.",
    severity=Severity.LOW,
    controls=(pci("1.3.2"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Limit egress to the protocols, ports and destinations the workload needs.",
    resource_types=RULE_TYPES,
    check=_check_unrestricted_egress,
    enforcement=EnforcementLevel.ADVISORY,
    config=dict(INTERNET_CONFIG),
    topics=("network",),
)


def _check_rule_description(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for rule in rules_of(args.resource_type, args.props, args.name):
        with within():
            if len(rule.description.strip()) < 3:
                traffic = rule.flow().describe()
                report(f"has an {rule.direction} rule on {traffic} without a description")


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


def _group_ids(group: PolicyResource) -> set[str]:
    """The values a reference to the group may hold: id, ARN, name, and the id its ARN ends
    with (the offline plan's state carries the ARN, not the id)."""
    found = {str(v) for k in ("id", "arn", "name") if (v := known(group.props, k)) is not None}
    found |= {v.rsplit("/", 1)[-1] for v in list(found) if v.startswith("arn:")}
    return found


def _group_of(rule: PolicyResource, groups: list[PolicyResource]) -> str | None:
    """The key of the group a standalone rule belongs to: a group's URN, or its known id."""
    by_urn = {g.urn for g in groups}
    declared = rule.property_dependencies.get("securityGroupId")
    if declared:
        return next((d.urn for d in declared if d.urn in by_urn), None)
    value = known(rule.props, "securityGroupId")
    if isinstance(value, str) and value:
        for group in groups:
            if value in _group_ids(group):
                return group.urn
        return value  # a group outside this stack
    depended = [d.urn for d in rule.dependencies if d.urn in by_urn]
    return depended[0] if len(depended) == 1 else None


@dataclass
class _GroupRules:
    """One security group's rules across the resources that declare them."""

    reported_at: PolicyResource
    label: str
    parts: list[list[Rule]]
    """The rules of each declaring resource (the group's inline rules, each rule resource)."""


def _groups(args: StackValidationArgs) -> list[_GroupRules]:
    groups = of_type(args, SECURITY_GROUP)
    found: dict[str, _GroupRules] = {
        g.urn: _GroupRules(g, "has rules", [rules_of(g.resource_type, g.props, g.name)])
        for g in groups
    }
    for resource in of_type(args, INGRESS_RULE, EGRESS_RULE, LEGACY_RULE):
        with within():
            key = _group_of(resource, groups)
            if key is None:
                continue
            if key not in found:
                label = f"is one of the rules of security group {key!r}"
                found[key] = _GroupRules(resource, label, [])
            found[key].parts.append(rules_of(resource.resource_type, resource.props, resource.name))
    return list(found.values())


def _combined(
    group: _GroupRules,
    direction: str,
    problems: Callable[[list[Flow], Mapping[str, Any]], list[Exposure]],
    config: Mapping[str, Any],
) -> list[Exposure]:
    """What the group's rules open together that no single declaring resource opens alone."""
    alone = [e for part in group.parts for e in problems(flows_of(part, direction), config)]
    together = problems(flows_of([r for p in group.parts for r in p], direction), config)
    return [e for e in together if not any(a.covers(e) for a in alone)]


def _check_combined_ingress(args: StackValidationArgs, report: StackReport, config: Any) -> None:
    for group in _groups(args):
        with within():
            for exposure in _combined(group, "ingress", _ingress_problems, config):
                report(
                    group.reported_at,
                    f"{group.label} ({', '.join(exposure.sources)}) that together "
                    f"{_ingress_message(exposure, config, 'allow')}",
                )


vpc_security_group_disallow_combined_public_ingress = stack_policy(
    name="aws-vpc-security-group-disallow-combined-public-ingress",
    description="The rules of one security group do not together open it to the internet.",
    severity=Severity.CRITICAL,
    controls=(cis("5.2"), cis("5.3"), pci("1.3.1"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Replace ranges that add up to the internet (e.g. 0.0.0.0/1 and 128.0.0.0/1) "
    "with the known networks that need access.",
    resource_types=(SECURITY_GROUP, *RULE_TYPES),
    check=_check_combined_ingress,
    config=_NETWORK_CONFIG,
    topics=("network",),
)


_GROUP_REFERENCES = ("securityGroups", "vpcSecurityGroupIds", "securityGroupIds")


def _uses_group(resource: PolicyResource, group: PolicyResource) -> bool:
    """Whether `resource` depends on the group or names it among its security groups."""
    if any(d.urn == group.urn for d in resource.dependencies):
        return True
    ids = _group_ids(group)
    return any(
        value in ids for key in _GROUP_REFERENCES for value in strings(known(resource.props, key))
    )


def _http_listener_problems(
    balancer: PolicyResource, listeners: list[PolicyResource], rules: list[PolicyResource]
) -> list[str]:
    """Why the load balancer's port 80 is more than a redirect to HTTPS (none when it is not)."""
    on_port = [
        listener
        for listener in listeners
        if linked(listener, balancer, "loadBalancerArn")
        and as_int(listener.props.get("port")) == HTTP_PORT
    ]
    where = f"LoadBalancer {balancer.name!r}"
    if not on_port:
        return [f"{where} has no listener on port {HTTP_PORT}, so nothing there needs to be open"]
    problems = []
    for listener in on_port:
        actions = objects(listener.props.get("defaultActions"))
        if not actions or not all(redirects_to_https(a) for a in actions):
            kinds = ", ".join(sorted({text(a.get("type")) or "unknown" for a in actions}))
            problems.append(
                f"listener {listener.name!r} of {where} on port {HTTP_PORT} does not only "
                f"redirect to HTTPS (default action: {kinds or 'none'})"
            )
        for rule in rules:
            with within():
                if not linked(rule, listener, "listenerArn"):
                    continue
                if not all(redirects_to_https(a) for a in objects(rule.props.get("actions"))):
                    problems.append(
                        f"rule {rule.name!r} of listener {listener.name!r} of {where} does not "
                        "only redirect to HTTPS"
                    )
    return problems


def _http_ingress_problems(args: StackValidationArgs, group: _GroupRules) -> list[str]:
    """Why the group may not be open to the internet on port 80 (none when it may)."""
    sg = group.reported_at
    if sg.resource_type != SECURITY_GROUP:
        return ["the group is not declared in this stack, so no load balancer of it is known"]
    users = [
        r
        for r in args.resources
        if r.urn != sg.urn and r.resource_type not in RULE_TYPES and _uses_group(r, sg)
    ]
    balancers = [u for u in users if u.resource_type in LOAD_BALANCERS]
    if not balancers:
        return ["no load balancer uses the group"]
    others = [u for u in users if u.resource_type not in LOAD_BALANCERS]
    problems = [
        f"{kind_of(u.resource_type)} {u.name!r} uses the group besides its load balancer(s)"
        for u in others
    ]
    listeners = of_type(args, *LISTENERS)
    rules = of_type(args, *LISTENER_RULES)
    for balancer in balancers:
        with within():
            problems.extend(_http_listener_problems(balancer, listeners, rules))
    return problems


def _check_public_http_ingress(args: StackValidationArgs, report: StackReport, config: Any) -> None:
    allowed = _allowed_ports(config)
    for group in _groups(args):
        with within():
            flows = flows_of([r for p in group.parts for r in p], "ingress")
            opened = [e for e in exposures(flows, internet_size(config)) if _http_only(e, allowed)]
            if not opened:
                continue
            exposure = opened[0]
            for problem in _http_ingress_problems(args, group):
                report(
                    group.reported_at,
                    f"{group.label} ({', '.join(exposure.sources)}) that allow ingress on port "
                    f"{HTTP_PORT} from {', '.join(exposure.cidrs)}, but {problem}",
                )


vpc_security_group_disallow_public_http_ingress = stack_policy(
    name="aws-vpc-security-group-disallow-public-http-ingress",
    description="Port 80 is open to the internet only on load balancers whose every listener "
    "there redirects to HTTPS.",
    severity=Severity.CRITICAL,
    controls=(cis("5.2"), pci("1.3.1"), pci("4.2.1"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Use the group for load balancers only and make each of their port-80 listeners "
    "(and its rules) a redirect to HTTPS, or close port 80.",
    resource_types=(SECURITY_GROUP, *RULE_TYPES, *LOAD_BALANCERS, *LISTENERS, *LISTENER_RULES),
    check=_check_public_http_ingress,
    config=_NETWORK_CONFIG,
    topics=("network", "load-balancing"),
)


def _check_combined_egress(args: StackValidationArgs, report: StackReport, config: Any) -> None:
    for group in _groups(args):
        with within():
            for exposure in _combined(group, "egress", _egress_problems, config):
                report(
                    group.reported_at,
                    f"{group.label} ({', '.join(exposure.sources)}) that together "
                    f"{_egress_message(exposure, 'allow')}",
                )


vpc_security_group_disallow_combined_unrestricted_egress = stack_policy(
    name="aws-vpc-security-group-disallow-combined-unrestricted-egress",
    description="The rules of one security group do not together open every port out.",
    severity=Severity.LOW,
    controls=(pci("1.3.2"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Limit egress to the protocols, ports and destinations the workload needs.",
    resource_types=(SECURITY_GROUP, *RULE_TYPES),
    check=_check_combined_egress,
    enforcement=EnforcementLevel.ADVISORY,
    config=dict(INTERNET_CONFIG),
    topics=("network",),
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
