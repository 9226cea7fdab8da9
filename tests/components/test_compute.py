"""Compute: IMDSv2-only encrypted private instances, capacity from the spec, scaling."""

from __future__ import annotations

import base64

import pytest

from tests.components.builders import make_spec, only, plan_of

LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"


def test_launch_template_requires_imdsv2_with_one_hop_and_no_public_ip() -> None:
    lt = only(plan_of(), LT)
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
    assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    interfaces = lt.inputs["networkInterfaces"]
    assert [i["associatePublicIpAddress"] for i in interfaces] == ["false"]


def test_root_volume_is_encrypted_with_the_tenant_key() -> None:
    plan = plan_of()
    key_arn = only(plan, "aws:kms/key:Key").outputs["arn"]
    ebs = only(plan, LT).inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true"
    assert ebs["kmsKeyId"] == key_arn


def test_user_data_references_the_secret_by_arn_and_holds_no_secret_value() -> None:
    plan = plan_of()
    user_data = only(plan, LT).inputs["userData"]
    # Had a secret flowed into user data, the engine would carry it as a secret (redacted).
    assert user_data != "[secret]"
    script = base64.b64decode(user_data).decode()
    secret_arn = only(plan, "aws:secretsmanager/secret:Secret").outputs["arn"]
    assert f"get-secret-value --region 'eu-west-1' --secret-id '{secret_arn}'" in script


@pytest.mark.parametrize(
    ("plan", "compute", "expected"),
    [
        ("free", {}, (1, 1, 1)),
        ("starter", {}, (1, 1, 2)),
        ("pro", {"min_size": 2, "desired_capacity": 3, "max_size": 9}, (2, 3, 9)),
        ("enterprise", {"max_size": 40}, (3, 3, 40)),
    ],
)
def test_autoscaling_capacity_equals_the_spec(
    plan: str, compute: dict[str, int], expected: tuple[int, int, int]
) -> None:
    overrides = {"plan": plan, "compute": compute}
    assert make_spec(**overrides).effective_capacity == expected
    asg = only(plan_of(**overrides), ASG)
    assert (asg.inputs["minSize"], asg.inputs["desiredCapacity"], asg.inputs["maxSize"]) == expected


def test_group_spans_only_private_subnets_with_instance_refresh_and_its_own_tags() -> None:
    plan = plan_of(plan="enterprise")
    asg = only(plan, ASG)
    private = {s.id for s in plan.by_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    assert set(asg.inputs["vpcZoneIdentifiers"]) == private
    assert asg.inputs["instanceRefresh"]["strategy"] == "Rolling"
    assert asg.inputs["launchTemplate"]["id"] == only(plan, LT).id
    tags = {t["key"]: t["value"] for t in asg.inputs["tags"] if t["propagateAtLaunch"]}
    assert tags["tenant"] == "testco" and tags["plan"] == "enterprise"
    assert "GroupInServiceInstances" in asg.inputs["enabledMetrics"]


def test_target_tracking_holds_the_spec_cpu_target() -> None:
    policy = only(plan_of(compute={"cpu_target_percent": 45}), "aws:autoscaling/policy:Policy")
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    config = policy.inputs["targetTrackingConfiguration"]
    assert config["targetValue"] == 45
    assert config["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "ASGAverageCPUUtilization"
    )


def test_schedules_become_scheduled_actions_and_disappear_when_suspended() -> None:
    schedule = {
        "name": "office-hours",
        "recurrence": "0 8 * * 1-5",
        "min_size": 2,
        "desired_capacity": 4,
        "max_size": 6,
        "time_zone": "Europe/Paris",
    }
    plan = plan_of(compute={"schedules": [schedule]})
    action = only(plan, "aws:autoscaling/schedule:Schedule")
    assert action.inputs["recurrence"] == "0 8 * * 1-5"
    assert action.inputs["timeZone"] == "Europe/Paris"
    assert (action.inputs["minSize"], action.inputs["desiredCapacity"]) == (2, 4)

    suspended = plan_of(compute={"schedules": [schedule]}, suspended=True)
    assert suspended.by_type("aws:autoscaling/schedule:Schedule") == []
    asg = only(suspended, ASG)
    assert (asg.inputs["minSize"], asg.inputs["desiredCapacity"], asg.inputs["maxSize"]) == (
        0,
        0,
        0,
    )


def test_suspension_keeps_every_data_resource() -> None:
    active = plan_of(storage={"table": {}})
    suspended = plan_of(storage={"table": {}}, suspended=True)
    data = {"aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:dynamodb/table:Table"}
    assert {r.urn for r in active.resources if r.type in data} == {
        r.urn for r in suspended.resources if r.type in data
    }


@pytest.mark.parametrize(
    ("instance_type", "arch"), [("t3.medium", "x86_64"), ("m7g.large", "arm64")]
)
def test_image_matches_the_instance_architecture(instance_type: str, arch: str) -> None:
    lt = only(plan_of(compute={"instance_type": instance_type}), LT)
    assert lt.inputs["imageId"].startswith("resolve:ssm:/aws/service/ami-amazon-linux-latest/")
    assert lt.inputs["imageId"].endswith(arch)
