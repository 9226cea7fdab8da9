"""Load balancers, listeners and listener rules."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import load_balancing as lb
from tests.policies.harness import TAGS, changed, evaluate, res, violations

LISTENER, ALB_LISTENER = lb.LISTENERS
LOAD_BALANCER, ALB = lb.LOAD_BALANCERS
RULE = lb.LISTENER_RULES[0]
REDIRECT = {
    "type": "redirect",
    "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
}
HTTPS: dict[str, Any] = {
    "loadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/a/1",
    "port": 443,
    "protocol": "HTTPS",
    "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "certificateArn": "arn:aws:acm:eu-west-1:1:certificate/c",
    "defaultActions": [{"type": "forward", "targetGroupArn": "arn:tg"}],
}
HTTP: dict[str, Any] = {
    "loadBalancerArn": HTTPS["loadBalancerArn"],
    "port": 80,
    "protocol": "HTTP",
    "defaultActions": [REDIRECT],
}
BALANCER: dict[str, Any] = {
    "loadBalancerType": "application",
    "internal": False,
    "dropInvalidHeaderFields": True,
    "accessLogs": {"bucket": "acme-access-logs-1a2b", "enabled": True},
    "subnets": ["subnet-1", "subnet-2"],
}
LISTENER_POLICIES = [lb.lb_listener_enforce_https, lb.lb_listener_enforce_tls_policy]
BALANCER_POLICIES = [
    lb.lb_load_balancer_enable_drop_invalid_headers,
    lb.lb_load_balancer_enable_access_logs,
]


def listener(inputs: dict[str, Any], type_: str = LISTENER) -> Any:
    return res(type_, "acme-listener", inputs, tags=TAGS)


def balancer(inputs: dict[str, Any], type_: str = LOAD_BALANCER) -> Any:
    return res(type_, "acme-alb", inputs, tags=TAGS)


@pytest.mark.parametrize("type_", lb.LISTENERS)
@pytest.mark.parametrize("policy", LISTENER_POLICIES, ids=lambda p: p.name)
def test_baseline_listeners_pass(policy: Any, type_: str) -> None:
    assert violations(policy, listener(HTTPS, type_), listener(HTTP, type_)) == []


@pytest.mark.parametrize("type_", lb.LOAD_BALANCERS)
@pytest.mark.parametrize("policy", BALANCER_POLICIES, ids=lambda p: p.name)
def test_baseline_balancer_passes(policy: Any, type_: str) -> None:
    assert violations(policy, balancer(BALANCER, type_)) == []


FORWARD = [{"type": "forward", "targetGroupArn": "arn:tg"}]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (changed(HTTP, "defaultActions", FORWARD), "forward"),
        (changed(HTTP, "defaultActions.0.redirect.protocol", "HTTP"), "redirect"),
        (
            changed(HTTP, "defaultActions", [REDIRECT, {"type": "fixed-response"}]),
            "fixed-response, redirect",
        ),
        (changed(changed(HTTP, "protocol", None), "defaultActions", FORWARD), "forward"),
        (changed(HTTPS, "protocol", "HTTP"), "forward"),
        (changed(HTTP, "defaultActions", None), "none"),
    ],
)
def test_plain_http(inputs: dict[str, Any], expected: str) -> None:
    [message] = violations(lb.lb_listener_enforce_https, listener(inputs))
    assert message.startswith("Listener 'acme-listener' serves plain HTTP")
    assert f"(default action: {expected})" in message


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("ELBSecurityPolicy-2016-08", "which accepts TLS 1.0"),
        ("ELBSecurityPolicy-TLS-1-1-2017-01", "which accepts TLS 1.1"),
        ("ELBSecurityPolicy-TLS13-1-0-2021-06", "which accepts TLS 1.0"),
        ("ELBSecurityPolicy-FS-2018-06", "which accepts TLS 1.0"),
        ("my-own-policy", "whose oldest TLS version is not known"),
        (None, "leaves the TLS security policy to the default"),
    ],
)
def test_weak_tls_policies(policy: str | None, expected: str) -> None:
    for protocol in ("HTTPS", "TLS"):
        inputs = changed(changed(HTTPS, "sslPolicy", policy), "protocol", protocol)
        [message] = violations(lb.lb_listener_enforce_tls_policy, listener(inputs))
        assert expected in message


@pytest.mark.parametrize(
    "policy",
    [
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    ],
)
def test_modern_tls_policies(policy: str) -> None:
    inputs = changed(HTTPS, "sslPolicy", policy)
    assert violations(lb.lb_listener_enforce_tls_policy, listener(inputs)) == []


def test_minimum_tls_version_is_configurable() -> None:
    [message] = violations(
        lb.lb_listener_enforce_tls_policy, listener(HTTPS), config={"minimumTlsVersion": "1.3"}
    )
    assert "which accepts TLS 1.2" in message


def test_rules_of_http_listeners_only_redirect() -> None:
    http = res(LISTENER, "acme-http", HTTP, outputs={"arn": "arn:listener/http"})
    https = res(LISTENER, "acme-https", HTTPS, outputs={"arn": "arn:listener/https"})

    def rule(name: str, listener_arn: str, action: dict[str, Any]) -> Any:
        inputs = {"listenerArn": listener_arn, "priority": 10, "actions": [action]}
        return res(RULE, name, inputs)

    forward = {"type": "forward", "targetGroupArn": "arn:tg"}
    messages = violations(
        lb.lb_listener_rule_disallow_http_forwarding,
        http,
        https,
        rule("acme-rule-http", "arn:listener/http", forward),
        rule("acme-rule-https", "arn:listener/https", forward),
        rule("acme-rule-redirect", "arn:listener/http", REDIRECT),
    )
    assert messages == [
        "ListenerRule 'acme-rule-http' serves plain HTTP on an HTTP listener; it may only "
        "redirect to HTTPS"
    ]


@pytest.mark.parametrize(
    ("policy", "path", "value", "expected"),
    [
        (
            lb.lb_load_balancer_enable_drop_invalid_headers,
            "dropInvalidHeaderFields",
            None,
            "forwards invalid HTTP headers",
        ),
        (
            lb.lb_load_balancer_enable_drop_invalid_headers,
            "dropInvalidHeaderFields",
            "false",
            "forwards invalid HTTP headers",
        ),
        (lb.lb_load_balancer_enable_access_logs, "accessLogs", None, "does not write access logs"),
        (
            lb.lb_load_balancer_enable_access_logs,
            "accessLogs.enabled",
            False,
            "does not write access logs",
        ),
    ],
)
def test_balancer_mutations(policy: Any, path: str, value: Any, expected: str) -> None:
    [message] = violations(policy, balancer(changed(BALANCER, path, value)))
    assert message.startswith(f"LoadBalancer 'acme-alb' {expected}")


def test_network_load_balancers_do_not_parse_headers() -> None:
    nlb = changed(changed(BALANCER, "loadBalancerType", "network"), "dropInvalidHeaderFields", None)
    result = evaluate(lb.lb_load_balancer_enable_drop_invalid_headers, balancer(nlb))
    assert result.findings == ()
    assert len(result.not_applicable) == 1
