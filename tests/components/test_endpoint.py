"""The public endpoint add-on: load balancer, listeners, certificate, DNS, logs and WAF."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.endpoint import TLS_POLICY, WAF_MANAGED_RULE_GROUPS
from components.spec import TenantSpec
from components.stack_config import engine_config
from planner.model import TenantPlan
from planner.program import ACCOUNT_ID
from policies.gate import evaluate_plan
from tests.components.builders import document, make_spec, only, plan_of

LISTENER = "aws:lb/listener:Listener"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def endpoint_plan(plan: str = "pro", **endpoint: Any) -> TenantPlan:
    return plan_of(plan=plan, addons={"endpoint": endpoint})


@pytest.fixture(scope="module")
def pro() -> TenantPlan:
    return endpoint_plan()


def test_load_balancer_is_public_in_the_public_subnets_and_logs_to_the_log_bucket(
    pro: TenantPlan,
) -> None:
    lb = only(pro, "aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["internal"] is False
    assert lb.inputs["dropInvalidHeaderFields"] is True
    public = {s.id for s in pro.by_type("aws:ec2/subnet:Subnet") if "public" in s.name}
    assert len(public) == 2 and set(lb.inputs["subnets"]) == public
    logs = lb.inputs["accessLogs"]
    buckets = {b.name: b.outputs["bucket"] for b in pro.by_type("aws:s3/bucket:Bucket")}
    assert logs == {
        "bucket": buckets["testco-storage-access-logs"],
        "prefix": "endpoint",
        "enabled": True,
    }
    policy = document(
        next(
            p
            for p in pro.by_type("aws:s3/bucketPolicy:BucketPolicy")
            if p.name == "testco-storage-access-logs-policy"
        )
    )
    elb = next(s for s in policy["Statement"] if s["Sid"] == "AllowLoadBalancerAccessLogs")
    # eu-west-1's Elastic Load Balancing account, only under the endpoint prefix.
    assert elb["Principal"] == {"AWS": "arn:aws:iam::156460612806:root"}
    assert elb["Resource"].endswith(f"/endpoint/AWSLogs/{ACCOUNT_ID}/*")


def test_https_listener_forwards_with_the_current_tls_policy_and_validated_certificate(
    pro: TenantPlan,
) -> None:
    https = next(r for r in pro.by_type(LISTENER) if r.inputs["port"] == 443)
    assert https.inputs["protocol"] == "HTTPS"
    assert https.inputs["sslPolicy"] == TLS_POLICY
    target_group = only(pro, "aws:lb/targetGroup:TargetGroup")
    assert https.inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": target_group.outputs["arn"]}
    ]
    validation = only(pro, "aws:acm/certificateValidation:CertificateValidation")
    certificate = only(pro, "aws:acm/certificate:Certificate")
    assert https.inputs["certificateArn"] == certificate.outputs["arn"]
    assert certificate.inputs["domainName"] == "testco.tenants-platform.net"
    assert certificate.inputs["validationMethod"] == "DNS"
    record = next(r for r in pro.by_type("aws:route53/record:Record") if "validation" in r.name)
    option = certificate.outputs["domainValidationOptions"][0]
    assert record.inputs["name"] == option["resourceRecordName"]
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]


def test_http_listener_only_redirects_to_https(pro: TenantPlan) -> None:
    http = next(r for r in pro.by_type(LISTENER) if r.inputs["port"] == 80)
    assert http.inputs["protocol"] == "HTTP"
    assert http.inputs["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
    ]


def test_port_80_is_open_on_the_load_balancer_group_only_for_the_redirect(
    pro: TenantPlan,
) -> None:
    groups = {g.name: g.id for g in pro.by_type("aws:ec2/securityGroup:SecurityGroup")}
    public = [r for r in pro.by_type(INGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert sorted(
        (r.inputs["securityGroupId"], r.inputs["fromPort"], r.inputs["toPort"]) for r in public
    ) == [(groups["testco-endpoint-lb-sg"], p, p) for p in (80, 443)]


def test_the_pack_admits_the_redirect_and_refuses_port_80_once_it_forwards(
    pro: TenantPlan,
) -> None:
    spec = make_spec(addons={"endpoint": {}})
    assert mandatory_findings(pro, spec) == []
    http = next(r for r in pro.by_type(LISTENER) if r.inputs["port"] == 80)
    forward = [{"type": "forward", "targetGroupArn": "arn:tg"}]
    forwarding = http.model_copy(
        update={
            "inputs": {**http.inputs, "defaultActions": forward},
            "outputs": {**http.outputs, "defaultActions": forward},
        }
    )
    mutated = pro.model_copy(
        update={"resources": [forwarding if r is http else r for r in pro.resources]}
    )
    evaluation = evaluate_plan(mutated, stack_config=engine_config(spec))
    found = {(f.policy, f.resource_name) for f in evaluation.findings if f.mandatory}
    assert found == {
        ("aws-vpc-security-group-disallow-public-http-ingress", "testco-endpoint-lb-sg"),
        ("aws-lb-listener-enforce-https", "testco-endpoint-http-redirect"),
    }


def mandatory_findings(plan: TenantPlan, spec: TenantSpec) -> list[str]:
    evaluation = evaluate_plan(plan, stack_config=engine_config(spec))
    return [f.message for f in evaluation.findings if f.mandatory]


def test_without_redirect_port_80_is_neither_listened_on_nor_open() -> None:
    plan = endpoint_plan(redirect_http=False)
    assert [r.inputs["port"] for r in plan.by_type(LISTENER)] == [443]
    public = [r for r in plan.by_type(INGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert [(r.inputs["fromPort"], r.inputs["toPort"]) for r in public] == [(443, 443)]


def test_app_security_group_admits_only_the_load_balancer(pro: TenantPlan) -> None:
    groups = {g.name: g.id for g in pro.by_type("aws:ec2/securityGroup:SecurityGroup")}
    app, lb = groups["testco-network-app-sg"], groups["testco-endpoint-lb-sg"]
    app_ingress = [r for r in pro.by_type(INGRESS) if r.inputs["securityGroupId"] == app]
    assert [(r.inputs.get("referencedSecurityGroupId"), r.inputs.get("cidrIpv4")) for r in
            app_ingress] == [(lb, None)]  # fmt: skip
    assert app_ingress[0].inputs["fromPort"] == 443


def test_targets_are_the_autoscaling_group_with_https_health_checks(pro: TenantPlan) -> None:
    target_group = only(pro, "aws:lb/targetGroup:TargetGroup")
    assert target_group.inputs["protocol"] == "HTTPS"
    assert target_group.inputs["healthCheck"]["path"] == "/healthz"
    attachment = only(pro, "aws:autoscaling/attachment:Attachment")
    group = only(pro, "aws:autoscaling/group:Group")
    assert attachment.inputs["autoscalingGroupName"] == group.outputs["name"]
    assert attachment.inputs["lbTargetGroupArn"] == target_group.outputs["arn"]


def test_alias_record_points_at_the_load_balancer(pro: TenantPlan) -> None:
    alias = next(r for r in pro.by_type("aws:route53/record:Record") if r.name.endswith("alias"))
    lb = only(pro, "aws:lb/loadBalancer:LoadBalancer")
    assert alias.inputs["name"] == "testco.tenants-platform.net"
    assert alias.inputs["type"] == "A"
    assert alias.inputs["aliases"] == [
        {
            "name": lb.outputs["dnsName"],
            "zoneId": lb.outputs["zoneId"],
            "evaluateTargetHealth": True,
        }
    ]
    assert pro.stack_outputs["endpoint_url"] == "https://testco.tenants-platform.net"


def test_waf_on_pro_has_managed_groups_and_the_per_ip_rate_limit() -> None:
    plan = endpoint_plan(rate_limit=750)
    acl = only(plan, "aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "REGIONAL"
    rules = {r["name"]: r for r in acl.inputs["rules"]}
    assert set(rules) == {"rate-limit-per-ip", *WAF_MANAGED_RULE_GROUPS}
    rate = rules["rate-limit-per-ip"]
    assert rate["statement"]["rateBasedStatement"] == {
        "limit": 750,
        "aggregateKeyType": "IP",
        "evaluationWindowSec": 300,
    }
    assert "block" in rate["action"]
    association = only(plan, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert (
        association.inputs["resourceArn"]
        == only(plan, "aws:lb/loadBalancer:LoadBalancer").outputs["arn"]
    )
    assert association.inputs["webAclArn"] == acl.outputs["arn"]


def test_starter_endpoint_has_no_waf_and_public_subnets_without_nat() -> None:
    plan = plan_of(plan="starter", network={"nat": "none"}, addons={"endpoint": {}})
    assert not plan.by_type("aws:wafv2/webAcl:WebAcl")
    assert not plan.by_type("aws:ec2/natGateway:NatGateway")
    assert len([s for s in plan.by_type("aws:ec2/subnet:Subnet") if "public" in s.name]) == 2
    assert only(plan, "aws:ec2/internetGateway:InternetGateway")


def test_custom_domain_uses_its_zone() -> None:
    plan = endpoint_plan(domain="app.globex.example.org", zone="globex.example.org")
    certificate = only(plan, "aws:acm/certificate:Certificate")
    assert certificate.inputs["domainName"] == "app.globex.example.org"
    records = plan.by_type("aws:route53/record:Record")
    zone_ids = {r.inputs["zoneId"] for r in records}
    assert len(zone_ids) == 1 and next(iter(zone_ids)).startswith("Z")


def test_without_the_add_on_nothing_of_it_exists() -> None:
    plan = plan_of()
    for token in ("aws:lb/loadBalancer:LoadBalancer", "aws:acm/certificate:Certificate"):
        assert not plan.by_type(token)
    app_rules = [r for r in plan.by_type(INGRESS) if "app-ingress" in r.name]
    assert [r.inputs["cidrIpv4"] for r in app_rules] == ["10.80.0.0/20"]
    assert json.loads(json.dumps(plan.stack_outputs))["endpoint_url"] is None
