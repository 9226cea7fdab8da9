"""Tenant rules: tags, provider, residency, plan limits, default provider, protection, isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.rules import tenant
from policies.rules.compute import AUTOSCALING_GROUP, LAUNCH_TEMPLATE
from tests.policies.harness import (
    ACCOUNT,
    SPEC,
    TAGS,
    evaluate,
    policy_document,
    provider,
    res,
    violations,
)

VPC = "aws:ec2/vpc:Vpc"


def test_tagged_resource_passes() -> None:
    vpc = res(VPC, "acme-vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"Name": "acme"}}, tags=TAGS)
    assert violations(tenant.tenant_resource_missing_required_tags, vpc) == []


def test_untaggable_and_component_resources_are_skipped() -> None:
    route = res("aws:ec2/route:Route", "acme-route", {"routeTableId": "rtb-1"})
    component = res("tenants:index:TenantNetwork", "acme-network", {}, provider=None)
    assert violations(tenant.tenant_resource_missing_required_tags, route, component) == []


def test_missing_tags_are_listed() -> None:
    vpc = res(VPC, "acme-vpc", {"tags": {"Name": "acme"}}, tags={"Name": "acme", "tenant": "acme"})
    assert violations(tenant.tenant_resource_missing_required_tags, vpc) == [
        "Vpc 'acme-vpc' is missing required tag(s) plan, managed-by, cost-center"
    ]


def test_tags_without_tags_all_are_read() -> None:
    vpc = res(VPC, "acme-vpc", {"tags": dict(TAGS)})
    assert violations(tenant.tenant_resource_missing_required_tags, vpc) == []


def test_tenant_tag_must_name_the_stack() -> None:
    vpc = res(VPC, "acme-vpc", {"tags": {}}, tags={**TAGS, "tenant": "globex"})
    assert violations(tenant.tenant_resource_missing_required_tags, vpc) == [
        "Vpc 'acme-vpc' is tagged tenant='globex' but belongs to stack 'acme'"
    ]


def test_unknown_plan_tag() -> None:
    vpc = res(VPC, "acme-vpc", {"tags": {}}, tags={**TAGS, "plan": "platinum"})
    assert violations(tenant.tenant_resource_missing_required_tags, vpc) == [
        "Vpc 'acme-vpc' is tagged with unknown plan 'platinum'"
    ]


def test_required_tags_are_configurable() -> None:
    vpc = res(VPC, "acme-vpc", {"tags": {}}, tags=TAGS)
    messages = violations(
        tenant.tenant_resource_missing_required_tags, vpc, config={"requiredTags": ["owner"]}
    )
    assert messages == ["Vpc 'acme-vpc' is missing required tag(s) owner"]


def test_group_tags_must_propagate() -> None:
    tags = [{"key": k, "value": v, "propagateAtLaunch": k != "plan"} for k, v in TAGS.items()]
    group = res(AUTOSCALING_GROUP, "acme-asg", {"tags": tags, "minSize": 1, "maxSize": 1})
    assert violations(tenant.tenant_resource_missing_required_tags, group) == [
        "Group 'acme-asg' does not propagate tag 'plan' to its instances"
    ]


def test_provider_default_tags() -> None:
    policy = tenant.tenant_provider_configure_default_tags
    assert violations(policy, with_provider=True) == []
    broken = provider(tags={"tenant": "acme"})
    assert violations(policy, broken, with_provider=False) == [
        "Provider 'acme-aws' default tags: missing required tag(s) plan, managed-by, cost-center"
    ]


@pytest.mark.parametrize(
    ("region", "spec", "expected"),
    [
        ("eu-west-1", SPEC, None),
        ("us-east-1", SPEC, "uses region 'us-east-1', outside residency 'eu'; allowed: eu-west-1"),
        ("us-east-1", None, None),
        ("cn-north-1", None, "uses region 'cn-north-1', outside the allowed regions"),
    ],
)
def test_residency(region: str, spec: Any, expected: str | None) -> None:
    messages = violations(
        tenant.tenant_region_enforce_residency, provider(region), with_provider=False, spec=spec
    )
    if expected is None:
        assert messages == []
    else:
        [message] = messages
        assert message.startswith(f"Provider 'acme-aws' {expected}")


def test_resource_level_region_override_is_checked() -> None:
    bucket = res("aws:s3/bucket:Bucket", "acme-data", {"bucket": "b", "region": "ap-southeast-1"})
    [message] = violations(tenant.tenant_region_enforce_residency, bucket, spec=SPEC)
    assert message.startswith(
        "Bucket 'acme-data' uses region 'ap-southeast-1', outside residency 'eu'"
    )


def test_instance_type_within_plan() -> None:
    policy = tenant.tenant_instance_type_enforce_plan
    allowed = res(LAUNCH_TEMPLATE, "acme-lt", {"instanceType": "t3.medium"}, tags=TAGS)
    assert violations(policy, allowed) == []
    too_big = res(LAUNCH_TEMPLATE, "acme-lt", {"instanceType": "m6i.2xlarge"}, tags=TAGS)
    [message] = violations(policy, too_big)
    assert message.startswith(
        "LaunchTemplate 'acme-lt' uses instance type 'm6i.2xlarge', not allowed on plan 'pro'; "
        "allowed: t3.small"
    )
    untagged = res(LAUNCH_TEMPLATE, "acme-lt", {"instanceType": "m6i.2xlarge"})
    result = evaluate(policy, untagged)
    assert result.findings == ()
    assert [n.reason for n in result.not_applicable] == ["the resource has no known plan tag"]


def _group(min_size: int, desired: int, max_size: int) -> Any:
    tags = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
    return res(
        AUTOSCALING_GROUP,
        "acme-asg",
        {"minSize": min_size, "desiredCapacity": desired, "maxSize": max_size, "tags": tags},
    )


def test_capacity_within_plan() -> None:
    policy = tenant.tenant_autoscaling_group_enforce_plan_capacity
    assert violations(policy, _group(2, 2, 10)) == []
    assert violations(policy, _group(2, 2, 11)) == [
        "Group 'acme-asg' has maxSize 11, above plan 'pro' limit of 10"
    ]
    assert violations(policy, _group(3, 1, 6)) == [
        "Group 'acme-asg' has desiredCapacity 1 outside minSize 3 to maxSize 6"
    ]
    assert violations(policy, _group(7, 7, 6)) == [
        "Group 'acme-asg' has minSize 7 above maxSize 6",
        "Group 'acme-asg' has desiredCapacity 7 outside minSize 7 to maxSize 6",
    ]


def test_default_provider_is_refused() -> None:
    policy = tenant.tenant_resource_disallow_default_provider
    assert violations(policy, res(VPC, "acme-vpc", {}, tags=TAGS)) == []
    assert violations(policy, res(VPC, "acme-vpc", {}, provider=None)) == [
        "Vpc 'acme-vpc' uses the default AWS provider, not the tenant's "
        "(its region and tags are unset)"
    ]


@pytest.mark.parametrize("type_", tenant.DATA_TYPES)
def test_data_resources_are_protected(type_: str) -> None:
    policy = tenant.tenant_data_resource_enforce_protect
    assert violations(policy, res(type_, "acme-data", {}, protect=True)) == []
    [message] = violations(policy, res(type_, "acme-data", {}, protect=False))
    assert message.endswith(
        "'acme-data' holds tenant data but is not protected against deletion (protect=True)"
    )


def _isolation_stack(*statements: dict[str, Any]) -> list[Any]:
    bucket = res(
        "aws:s3/bucket:Bucket",
        "acme-data",
        {"bucket": "acme-data-1a2b"},
        outputs={"arn": "arn:aws:s3:::acme-data-1a2b"},
    )
    key = res(
        "aws:kms/key:Key",
        "acme-key",
        {},
        outputs={"arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k-1"},
    )
    policy = res(
        "aws:iam/rolePolicy:RolePolicy",
        "acme-workload-policy",
        {"role": "r", "policy": policy_document(*statements)},
    )
    return [bucket, key, policy]


def test_isolation_accepts_own_arns_names_and_global_actions() -> None:
    stack = _isolation_stack(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": ["arn:aws:s3:::acme-data-1a2b", "arn:aws:s3:::acme-data-1a2b/*"],
        },
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k-1",
        },
        {
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/tenants/acme/*",
        },
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::globex-data"},
    )
    assert violations(tenant.tenant_iam_policy_enforce_isolation, *stack) == []


@pytest.mark.parametrize(
    "target",
    [
        "arn:aws:s3:::globex-data-9z9z/*",
        "arn:aws:s3:::acme2-data",
        "*",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k-2",
    ],
)
def test_isolation_refuses_other_tenants_resources(target: str) -> None:
    stack = _isolation_stack(
        {"Sid": "Reach", "Effect": "Allow", "Action": "s3:GetObject", "Resource": target}
    )
    assert violations(tenant.tenant_iam_policy_enforce_isolation, *stack) == [
        f"RolePolicy 'acme-workload-policy' allows s3:GetObject on {target!r} in statement 'Reach' "
        "of its policy, which is not a resource of tenant 'acme'"
    ]


def test_isolation_refuses_not_resource() -> None:
    stack = _isolation_stack(
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x"}
    )
    [message] = violations(tenant.tenant_iam_policy_enforce_isolation, *stack)
    assert "allows on NotResource" in message


def test_isolation_reads_documents_as_json_strings() -> None:
    stack = _isolation_stack(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x"}
    )
    assert isinstance(json.loads(stack[-1].inputs["policy"]), dict)
    assert len(violations(tenant.tenant_iam_policy_enforce_isolation, *stack)) == 1


def event_target(arn: str) -> Any:
    return res(
        tenant.EVENT_TARGET,
        "acme-mail-events-to-log",
        {"rule": "tenant-acme-mail-events", "arn": arn},
    )


LOGS = "arn:aws:logs:eu-west-1:123456789012:log-group:"


def test_event_rules_write_into_the_tenant_own_log_groups() -> None:
    policy = tenant.tenant_event_target_enforce_own_log_group
    assert violations(policy, event_target(f"{LOGS}/tenants/acme/mail")) == []
    assert violations(policy, event_target(f"{LOGS}/tenants/acme/mail:*")) == []
    assert violations(policy, event_target(f"{LOGS}/tenants/acme-corp/mail")) == [
        "EventTarget 'acme-mail-events-to-log' sends events to log group "
        "'/tenants/acme-corp/mail', not one of tenant 'acme' (under '/tenants/acme/')"
    ]
    assert len(violations(policy, event_target(f"{LOGS}/aws/events/everything"))) == 1


def test_event_targets_other_than_log_groups_are_not_judged() -> None:
    result = evaluate(
        tenant.tenant_event_target_enforce_own_log_group,
        event_target("arn:aws:sns:eu-west-1:123456789012:tenant-acme-alarms"),
    )
    assert result.findings == ()
    assert [n.reason for n in result.not_applicable] == [
        "the target is not a CloudWatch Logs log group"
    ]
