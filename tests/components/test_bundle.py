"""The bundle: one provider per tenant, tags everywhere, plan differences, no deprecations."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components.spec import RESERVED_TAG_KEYS
from tests.components.builders import only, plan_of

# Types the AWS provider cannot tag, or that take their tags another way.
UNTAGGABLE_OK = {"aws:autoscaling/group:Group"}


@pytest.mark.parametrize("plan", ["free", "starter", "pro", "enterprise"])
def test_every_taggable_resource_carries_the_four_tags(plan: str) -> None:
    result = plan_of(plan=plan, cost_center="cc-42", tags={"team": "core"})
    provider = only(result, "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    aws_resources = [r for r in result.resources if r.custom and r.type.startswith("aws:")]
    assert aws_resources and all(r.provider == provider.name for r in aws_resources)
    tagged = [r for r in aws_resources if "tagsAll" in r.outputs]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource.outputs["tagsAll"]
        assert {k: tags[k] for k in RESERVED_TAG_KEYS} == {
            "tenant": "testco",
            "plan": plan,
            "managed-by": "tenants-platform",
            "cost-center": "cc-42",
        }, resource.name
        assert tags["team"] == "core"
    group = only(result, "aws:autoscaling/group:Group")
    group_tags = {t["key"]: t["value"] for t in group.inputs["tags"]}
    assert set(RESERVED_TAG_KEYS) <= set(group_tags)


def test_components_use_the_tenants_type_tokens_and_children_follow_the_naming() -> None:
    plan = plan_of()
    components = {r.type for r in plan.resources if not r.custom}
    assert components == {
        "tenants:index:ServiceBundle",
        "tenants:index:TenantNetwork",
        "tenants:index:TenantStorage",
        "tenants:index:TenantIdentity",
        "tenants:index:TenantCompute",
        "tenants:index:TenantAlarms",
    }
    for resource in plan.resources:
        if resource.parent is not None:
            assert resource.name.startswith(f"{resource.parent}-"), resource.name


@pytest.mark.parametrize(
    ("plan", "table", "access_logs", "nat"),
    [("free", False, False, 0), ("starter", True, True, 1), ("enterprise", True, True, 3)],
)
def test_plan_differences_show(plan: str, table: bool, access_logs: bool, nat: int) -> None:
    overrides: dict[str, object] = {"plan": plan}
    if table:
        overrides["storage"] = {"table": {}}
    result = plan_of(**overrides)
    assert bool(result.by_type("aws:dynamodb/table:Table")) == table
    assert bool(result.by_type("aws:s3/bucketLogging:BucketLogging")) == access_logs
    assert len(result.by_type("aws:ec2/natGateway:NatGateway")) == nat


def test_exports_cover_what_an_operator_needs() -> None:
    outputs = plan_of(storage={"table": {}}).stack_outputs
    for key in (
        "vpc_id", "private_subnet_ids", "bucket_names", "workload_role_arn", "alarm_topic_arn",
        "autoscaling_group_name", "dashboard_name", "table_name", "key_arn",
    ):  # fmt: skip
        assert outputs[key], key
    assert outputs["vpc_id"].startswith("vpc-")
    assert outputs["table_name"] == "tenant-testco"


def test_plans_log_no_warnings() -> None:
    assert plan_of(plan="enterprise", storage={"table": {}}).warnings == []


def test_a_deprecated_aws_resource_type_fails_the_suite() -> None:
    pulumi.runtime.set_mocks(_NoopMocks(), preview=True)
    with pytest.raises(DeprecationWarning, match="deprecated"):
        aws.s3.BucketV2("legacy")


def test_a_deprecated_aws_property_fails_the_suite() -> None:
    pulumi.runtime.set_mocks(_NoopMocks(), preview=True)
    with pytest.raises(DeprecationWarning, match="acl is deprecated"):
        aws.s3.Bucket("legacy", aws.s3.BucketArgs(acl="private"))


class _NoopMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], None]:
        return {}, None
