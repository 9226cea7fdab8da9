"""Load balancers and listeners: HTTPS with a modern TLS policy, HTTP only to redirect,
invalid headers dropped, access logged."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from policies.define import (
    Report,
    StackReport,
    linked,
    of_type,
    resource_policy,
    stack_policy,
    within,
)
from policies.frameworks import hipaa, iso, pci, soc2
from policies.props import as_bool, mapping, objects, text

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LISTENER_RULES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
TLS_PROTOCOLS = ("HTTPS", "TLS")

# ELBSecurityPolicy-TLS13-1-2-2021-06, -TLS-1-2-Ext-2018-06, -FS-1-2-Res-2020-10: the
# number after the family is the oldest TLS version the policy accepts.
_VERSIONED = re.compile(r"-(?:TLS13|TLS|FS)-1-(\d)(?:-|$)")
_TLS_1_0_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-2016-08",
        "ELBSecurityPolicy-2015-05",
        "ELBSecurityPolicy-FS-2018-06",
    }
)


def _protocol(props: Any) -> str:
    return text(props.get("protocol")).upper() or "HTTP"


def redirects_to_https(action: Any) -> bool:
    """Whether a listener (or listener rule) action only redirects to HTTPS."""
    entry = mapping(action)
    if text(entry.get("type")).lower() != "redirect":
        return False
    return text(mapping(entry.get("redirect")).get("protocol")).upper() == "HTTPS"


def _check_https(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if _protocol(args.props) != "HTTP":
        return
    actions = objects(args.props.get("defaultActions"))
    if not actions or not all(redirects_to_https(a) for a in actions):
        kinds = ", ".join(sorted({text(a.get("type")) or "unknown" for a in actions})) or "none"
        report(
            f"serves plain HTTP (default action: {kinds}); an HTTP listener may only redirect "
            "to HTTPS"
        )


lb_listener_enforce_https = resource_policy(
    name="aws-lb-listener-enforce-https",
    description="Load balancer listeners serve HTTPS; HTTP listeners only redirect to HTTPS.",
    severity=Severity.HIGH,
    controls=(pci("4.2.1"), hipaa("164.312(e)(1)"), soc2("CC6.7"), iso("A.8.24")),
    remediation="Use protocol 'HTTPS' with a certificate, or make the HTTP listener's default "
    "action a redirect with protocol 'HTTPS'.",
    resource_types=LISTENERS,
    check=_check_https,
    topics=("load-balancing", "encryption-in-transit"),
)


def minimum_tls(policy: str) -> float | None:
    """The oldest TLS version an ELB security policy accepts, when its name says so."""
    if policy in _TLS_1_0_POLICIES:
        return 1.0
    match = _VERSIONED.search(policy)
    return float(f"1.{match.group(1)}") if match else None


def _check_tls_policy(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    if _protocol(args.props) not in TLS_PROTOCOLS:
        return
    policy = text(args.props.get("sslPolicy"))
    required = float(config["minimumTlsVersion"])
    if not policy:
        report("leaves the TLS security policy to the default; name one for TLS 1.2 or later")
        return
    version = minimum_tls(policy)
    if version is None:
        report(f"uses TLS security policy {policy!r}, whose oldest TLS version is not known")
    elif version < required:
        report(f"uses TLS security policy {policy!r}, which accepts TLS {version}")


lb_listener_enforce_tls_policy = resource_policy(
    name="aws-lb-listener-enforce-tls-policy",
    description="HTTPS and TLS listeners accept only TLS 1.2 or later.",
    severity=Severity.HIGH,
    controls=(pci("4.2.1"), hipaa("164.312(e)(2)(ii)"), soc2("CC6.7"), iso("A.8.24")),
    remediation="Set ssl_policy to 'ELBSecurityPolicy-TLS13-1-2-2021-06' (or another TLS 1.2+ "
    "policy).",
    resource_types=LISTENERS,
    check=_check_tls_policy,
    config={
        "minimumTlsVersion": {
            "type": "string",
            "enum": ["1.2", "1.3"],
            "default": "1.2",
            "description": "Oldest TLS version a listener's security policy may accept.",
        }
    },
    topics=("load-balancing", "encryption-in-transit"),
)


def _check_rule_actions(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    http = [
        listener for listener in of_type(args, *LISTENERS) if _protocol(listener.props) == "HTTP"
    ]
    for rule in of_type(args, *LISTENER_RULES):
        with within():
            if not any(linked(rule, listener, "listenerArn") for listener in http):
                continue
            actions = objects(rule.props.get("actions"))
            if not all(redirects_to_https(a) for a in actions):
                report(rule, "serves plain HTTP on an HTTP listener; it may only redirect to HTTPS")


lb_listener_rule_disallow_http_forwarding = stack_policy(
    name="aws-lb-listener-rule-disallow-http-forwarding",
    description="Rules of HTTP listeners only redirect to HTTPS.",
    severity=Severity.HIGH,
    controls=(pci("4.2.1"), hipaa("164.312(e)(1)"), soc2("CC6.7"), iso("A.8.24")),
    remediation="Attach the rule to the HTTPS listener, or make its action a redirect to HTTPS.",
    resource_types=(*LISTENERS, *LISTENER_RULES),
    check=_check_rule_actions,
    topics=("load-balancing", "encryption-in-transit"),
)


def _check_invalid_headers(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    kind = text(args.props.get("loadBalancerType")).lower() or "application"
    if kind != "application":
        args.not_applicable(f"only application load balancers parse HTTP headers ({kind})")
    if as_bool(args.props.get("dropInvalidHeaderFields")) is not True:
        report("forwards invalid HTTP headers; set dropInvalidHeaderFields")


lb_load_balancer_enable_drop_invalid_headers = resource_policy(
    name="aws-lb-load-balancer-enable-drop-invalid-headers",
    description="Application load balancers drop invalid HTTP header fields.",
    severity=Severity.MEDIUM,
    controls=(pci("6.4.1"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Set drop_invalid_header_fields=True.",
    resource_types=LOAD_BALANCERS,
    check=_check_invalid_headers,
    topics=("load-balancing",),
)


def _check_access_logs(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    kind = text(args.props.get("loadBalancerType")).lower() or "application"
    if kind == "gateway":
        args.not_applicable("gateway load balancers have no access logs")
    logs = mapping(args.props.get("accessLogs"))
    if as_bool(logs.get("enabled")) is not True or not text(logs.get("bucket")):
        report("does not write access logs; set accessLogs with a bucket and enabled")


lb_load_balancer_enable_access_logs = resource_policy(
    name="aws-lb-load-balancer-enable-access-logs",
    description="Load balancers write access logs.",
    severity=Severity.MEDIUM,
    controls=(pci("10.2.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Set access_logs with enabled=True and the tenant's access-log bucket.",
    resource_types=LOAD_BALANCERS,
    check=_check_access_logs,
    topics=("load-balancing", "logging"),
)
