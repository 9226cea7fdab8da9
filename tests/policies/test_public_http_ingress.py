"""Port 80 from the internet: only on a load balancer's group, only to redirect to HTTPS.

The baseline is the public endpoint as the bundle declares it: the load balancer's group
admits 443 and 80 from anywhere (IPv4 and IPv6), the HTTPS listener forwards and the port-80
listener only redirects. Each mutation breaks one condition of the exception.
"""

from __future__ import annotations

from typing import Any

import pytest

from planner.model import PlannedResource
from policies.rules import load_balancing as lb
from policies.rules import network
from tests.policies.harness import TAGS, res, violations

HTTP_INGRESS = network.vpc_security_group_disallow_public_http_ingress
PUBLIC_INGRESS = network.vpc_security_group_disallow_public_ingress
COMBINED_INGRESS = network.vpc_security_group_disallow_combined_public_ingress
LB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/tenant-acme/1"
LISTENER_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/tenant-acme/1/2"
REDIRECT = {
    "type": "redirect",
    "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
}
FORWARD = {"type": "forward", "targetGroupArn": "arn:tg"}

GROUP = res(
    network.SECURITY_GROUP,
    "acme-lb-sg",
    {"vpcId": "vpc-1", "description": "Public load balancer"},
    outputs={"arn": "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-lb"},
    tags=TAGS,
)


def ingress(port: int, cidr: str = "0.0.0.0/0", *, name: str = "", **inputs: Any) -> Any:
    key = "cidrIpv6" if ":" in cidr else "cidrIpv4"
    suffix = "-v6" if key == "cidrIpv6" else ""
    return res(
        network.INGRESS_RULE,
        name or f"acme-lb-ingress-{port}{suffix}",
        {
            "securityGroupId": "sg-lb",
            "ipProtocol": "tcp",
            "fromPort": port,
            "toPort": port,
            key: cidr,
            "description": "from the internet",
            **inputs,
        },
        depends_on=(GROUP,),
        tags=TAGS,
    )


def balancer(group_id: str = "sg-lb", *, linked: bool = True) -> Any:
    """The load balancer in the group `group_id`; `linked`: it depends on `GROUP`."""
    return res(
        lb.LOAD_BALANCERS[0],
        "acme-alb",
        {"loadBalancerType": "application", "internal": False, "securityGroups": [group_id]},
        outputs={"arn": LB_ARN},
        depends_on=(GROUP,) if linked else (),
        tags=TAGS,
    )


def listener(name: str, port: int, *actions: dict[str, Any], arn: str = LISTENER_ARN) -> Any:
    return res(
        lb.LISTENERS[0],
        name,
        {
            "loadBalancerArn": LB_ARN,
            "port": port,
            "protocol": "HTTPS" if port == 443 else "HTTP",
            "defaultActions": list(actions),
        },
        outputs={"arn": arn},
        tags=TAGS,
    )


HTTPS = listener("acme-https", 443, FORWARD, arn=f"{LISTENER_ARN}-https")
HTTP = listener("acme-http-redirect", 80, REDIRECT)


def endpoint(*extra: PlannedResource, **replaced: PlannedResource | None) -> list[Any]:
    """The compliant endpoint; `replaced` swaps (or with `None` drops) one part by role."""
    parts: dict[str, PlannedResource | None] = {
        "group": GROUP,
        "https_in": ingress(443),
        "https_in_v6": ingress(443, "::/0"),
        "http_in": ingress(80),
        "http_in_v6": ingress(80, "::/0"),
        "balancer": balancer(),
        "https": HTTPS,
        "http": HTTP,
    }
    parts.update(replaced)
    return [p for p in parts.values() if p is not None] + list(extra)


def findings(*resources: Any, config: dict[str, Any] | None = None) -> list[str]:
    return [
        message
        for policy in (HTTP_INGRESS, PUBLIC_INGRESS, COMBINED_INGRESS)
        for message in violations(policy, *resources, config=config)
    ]


def test_a_load_balancer_that_only_redirects_port_80_passes() -> None:
    assert findings(*endpoint()) == []
    # The listeners themselves pass their own rules too.
    for policy in (lb.lb_listener_enforce_https, lb.lb_listener_rule_disallow_http_forwarding):
        assert violations(policy, *endpoint()) == []


def test_a_port_80_listener_that_forwards_opens_nothing() -> None:
    forwarding = listener("acme-http-redirect", 80, FORWARD)
    assert findings(*endpoint(http=forwarding)) == [
        "SecurityGroup 'acme-lb-sg' has rules (acme-lb-ingress-80, acme-lb-ingress-80-v6) that "
        "allow ingress on port 80 from 0.0.0.0/0, ::/0, but listener 'acme-http-redirect' of "
        "LoadBalancer 'acme-alb' on port 80 does not only redirect to HTTPS (default action: "
        "forward)"
    ]


def test_a_second_port_80_listener_must_redirect_as_well() -> None:
    other = listener("acme-http-extra", 80, REDIRECT, FORWARD, arn=f"{LISTENER_ARN}-x")
    [message] = findings(*endpoint(other))
    assert message.endswith(
        "listener 'acme-http-extra' of LoadBalancer 'acme-alb' on port 80 does not only redirect "
        "to HTTPS (default action: forward, redirect)"
    )


def test_a_forwarding_rule_on_the_port_80_listener_opens_nothing() -> None:
    rule = res(
        lb.LISTENER_RULES[0],
        "acme-http-api",
        {"listenerArn": LISTENER_ARN, "priority": 10, "actions": [FORWARD]},
        tags=TAGS,
    )
    [message] = findings(*endpoint(rule))
    assert message.endswith(
        "but rule 'acme-http-api' of listener 'acme-http-redirect' of LoadBalancer 'acme-alb' "
        "does not only redirect to HTTPS"
    )
    redirecting = res(
        lb.LISTENER_RULES[0],
        "acme-http-api",
        {"listenerArn": LISTENER_ARN, "priority": 10, "actions": [REDIRECT]},
        tags=TAGS,
    )
    assert findings(*endpoint(redirecting)) == []


def test_port_80_open_without_a_listener_there() -> None:
    [message] = findings(*endpoint(http=None))
    assert message.endswith(
        "but LoadBalancer 'acme-alb' has no listener on port 80, so nothing there needs to be open"
    )


def test_a_group_no_load_balancer_uses() -> None:
    [message] = findings(*endpoint(balancer=None))
    assert message.startswith("SecurityGroup 'acme-lb-sg' has rules (acme-lb-ingress-80")
    assert message.endswith("but no load balancer uses the group")


def test_a_group_the_instances_share_with_the_load_balancer() -> None:
    template = res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "acme-compute-template",
        {"vpcSecurityGroupIds": ["sg-lb"]},
        tags=TAGS,
    )
    [message] = findings(*endpoint(template))
    assert message.endswith(
        "but LaunchTemplate 'acme-compute-template' uses the group besides its load balancer(s)"
    )


def test_a_group_outside_the_stack_proves_nothing() -> None:
    outside = ingress(80, securityGroupId="sg-elsewhere", name="acme-other-ingress-80")
    outside = outside.model_copy(update={"dependencies": ()})
    [message] = findings(*endpoint(), outside)
    assert message == (
        "SecurityGroupIngressRule 'acme-other-ingress-80' is one of the rules of security group "
        "'sg-elsewhere' (acme-other-ingress-80) that allow ingress on port 80 from 0.0.0.0/0, "
        "but the group is not declared in this stack, so no load balancer of it is known"
    )


def test_other_public_ports_stay_refused_on_the_load_balancer_group() -> None:
    ssh = ingress(22)
    assert findings(*endpoint(ssh)) == [
        "SecurityGroupIngressRule 'acme-lb-ingress-22' allows ingress on port 22 from "
        "0.0.0.0/0; only ports [443] may be open to the internet"
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ingress(80, toPort=443, name="acme-lb-web"), "on ports 80-443 from 0.0.0.0/0"),
        (ingress(80, ipProtocol="udp", name="acme-lb-quic"), "on udp port 80 from 0.0.0.0/0"),
        (ingress(80, ipProtocol="-1", name="acme-lb-all"), "on all ports from 0.0.0.0/0"),
    ],
)
def test_only_tcp_port_80_itself_is_the_exception(rule: Any, expected: str) -> None:
    [message] = findings(*endpoint(rule))
    assert message.startswith(f"SecurityGroupIngressRule '{rule.name}' allows ingress {expected}")


def test_port_80_allowed_everywhere_by_configuration_needs_no_load_balancer() -> None:
    assert findings(*endpoint(balancer=None), config={"allowedPorts": [80, 443]}) == []


def test_port_80_from_a_known_network_is_not_the_internet() -> None:
    office = ingress(80, "198.51.100.0/24", name="acme-office-80")
    assert findings(GROUP, office) == []


def test_the_rule_resource_alone_leaves_port_80_to_the_stack_rule() -> None:
    http_in = ingress(80)
    assert violations(PUBLIC_INGRESS, http_in) == []
    assert len(violations(HTTP_INGRESS, http_in)) == 1


def test_ids_written_out_find_the_group_without_dependencies() -> None:
    assert findings(*endpoint(balancer=balancer(linked=False))) == []
    [message] = findings(*endpoint(balancer=balancer("sg-other", linked=False)))
    assert message.endswith("but no load balancer uses the group")
