"""The offline gate hands policies what the analyzer would, and reports as the engine does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from planner.model import TenantPlan
from policies.config import PackConfig, PackConfigError, parse_pack_config
from policies.gate import evaluate_plan
from policies.pack import ALL_POLICIES
from policies.rules import kms, s3
from policies.rules.network import ec2_vpc_missing_flow_logs
from tests.policies.harness import TAGS, evaluate, res

VPC = "aws:ec2/vpc:Vpc"


def probe(seen: list[Any], **kwargs: Any) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type == VPC:
            seen.append(args)

    return ResourceValidationPolicy(name="probe", description="Probe.", validate=validate, **kwargs)


def test_props_arrive_as_the_engine_shapes_them() -> None:
    seen: list[ResourceValidationArgs] = []
    vpc = res(
        VPC,
        "acme-vpc",
        {
            "cidrBlock": "10.0.0.0/16",
            "instanceTenancy": "default",
            "tags": {"Name": "acme"},
            "ipv6NetmaskLength": 56,
        },
        outputs={"arn": "arn:aws:ec2:eu-west-1:1:vpc/vpc-1"},
        tags=TAGS,
        protect=True,
    )
    evaluate(probe(seen), vpc)
    [args] = seen
    assert isinstance(args.props, Mapping) and not isinstance(args.props, dict)
    assert args.props["ipv6NetmaskLength"] == 56.0
    assert isinstance(args.props["ipv6NetmaskLength"], float)
    assert args.props["tagsAll"]["tenant"] == "acme"  # the provider-computed tags, as in a preview
    assert "arn" not in args.props  # resource policies see inputs, not outputs
    assert args.urn == "urn:pulumi:acme::tenants::aws:ec2/vpc:Vpc::acme-vpc"
    assert args.opts.protect is True
    assert args.provider is not None
    assert args.provider.name == "acme-aws"
    assert args.provider.props["region"] == "eu-west-1"


def test_resources_without_explicit_provider_see_the_default_one() -> None:
    seen: list[ResourceValidationArgs] = []
    evaluate(probe(seen), res(VPC, "acme-vpc", {}, provider=None))
    [args] = seen
    assert args.provider is not None
    assert args.provider.name.startswith("default_7_")


def test_unknown_values_become_an_advisory_finding() -> None:
    bucket_policy = res(
        s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": UNKNOWN_STRING_VALUE}
    )
    [finding] = evaluate(s3.s3_bucket_enforce_tls_only, bucket_policy).findings
    assert finding.enforcement == "advisory"
    assert finding.message == (
        "can't run policy 'aws-s3-bucket-enforce-tls-only' from policy pack 'tenants-compliance' "
        "during preview: string value at .policy can't be known during preview"
    )


def test_stack_policies_see_state_with_parents_and_dependencies() -> None:
    captured: list[StackValidationArgs] = []
    vpc = res(VPC, "acme-vpc", {"cidrBlock": "10.0.0.0/16"}, outputs={"arn": "arn:vpc"})
    flow = res("aws:ec2/flowLog:FlowLog", "acme-flow", {"vpcId": "vpc-1"}, depends_on=(vpc,))
    policy = StackValidationPolicy(
        name="stack-probe",
        description="Probe.",
        validate=lambda args, _report: captured.append(args),
    )
    evaluate(policy, vpc, flow)
    [args] = captured
    by_name = {r.name: r for r in args.resources}
    assert by_name["acme-vpc"].props["arn"] == "arn:vpc"
    assert [d.name for d in by_name["acme-flow"].dependencies] == ["acme-vpc"]


def test_stack_violation_names_the_resource() -> None:
    vpc = res(VPC, "acme-vpc", {"cidrBlock": "10.0.0.0/16"})
    [finding] = evaluate(ec2_vpc_missing_flow_logs, vpc).findings
    assert (finding.resource_type, finding.resource_name) == (VPC, "acme-vpc")
    assert finding.urn == vpc.urn


ROTATION_OFF = {"enableKeyRotation": False}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ["mandatory"]),
        ({"aws-kms-key-enable-rotation": "advisory"}, ["advisory"]),
        ({"aws-kms-key-enable-rotation": {"enforcementLevel": "remediate"}}, ["mandatory"]),
        ({"aws-kms-key-enable-rotation": "disabled"}, []),
        ({"all": "advisory"}, ["advisory"]),
        ({"all": "disabled", "aws-kms-key-enable-rotation": "mandatory"}, ["mandatory"]),
    ],
)
def test_enforcement_levels(config: dict[str, Any], expected: list[str]) -> None:
    plan = TenantPlan(
        tenant="acme",
        plan="pro",
        region="eu-west-1",
        resources=[res(kms.KEY, "acme-key", ROTATION_OFF)],
    )
    pack = parse_pack_config(config, ALL_POLICIES)
    result = evaluate_plan(plan, pack_config=pack, policies=[kms.kms_key_enable_rotation])
    assert [f.enforcement for f in result.findings] == expected
    assert result.evaluated == (("aws-kms-key-enable-rotation",) if expected else ())


def test_config_defaults_reach_the_policy() -> None:
    seen: list[Mapping[str, Any]] = []

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        seen.append(args.get_config())

    schema = PolicyConfigSchema(
        {
            "limit": {"type": "integer", "default": 3},
            "names": {"type": "array", "items": {"type": "string"}},
        }
    )
    policy = ResourceValidationPolicy(
        name="cfg", description="Cfg.", validate=validate, config_schema=schema
    )
    pack = parse_pack_config({"cfg": {"names": ["a"]}}, [policy])
    assert pack.config_for(policy) == {"limit": 3, "names": ["a"]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"aws-nope": "advisory"}, "unknown policy 'aws-nope'; known: "),
        (
            {"aws-kms-key-enable-rotation": "sometimes"},
            "enforcement level 'sometimes' is not one of",
        ),
        (
            {"aws-cloudwatch-log-group-configure-retention": {"minimumRetentionDays": "a year"}},
            "aws-cloudwatch-log-group-configure-retention.minimumRetentionDays: "
            "'a year' is not of type 'integer'",
        ),
        (
            {"aws-cloudwatch-log-group-configure-retention": {"maximum": 1}},
            "unknown properties ['maximum']; allowed: minimumRetentionDays",
        ),
        (
            {"all": 3},
            "all: enforcement level 3 is not one of advisory, mandatory, remediate, disabled",
        ),
    ],
)
def test_bad_pack_config_is_explained(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(PackConfigError) as error:
        parse_pack_config(raw, ALL_POLICIES)
    assert message in str(error.value)


def test_default_pack_config_keeps_each_policys_level() -> None:
    advisory = s3.s3_bucket_enable_bucket_key
    assert PackConfig().level(advisory, EnforcementLevel.MANDATORY) is EnforcementLevel.ADVISORY
