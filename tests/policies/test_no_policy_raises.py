"""No policy raises on any props the engine can send (property-based).

For every resource type the pack reads, hypothesis generates props from the names the rules
use, with values of every shape: unknowns, `None`, wrong types, lists where objects are
expected, strings where lists are expected, JSON documents of any shape, deep nesting. Every
policy of the pack runs on them through the offline gate, as the analyzer would run it; an
unknown value may end a policy ("can't run during preview"), nothing else may.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from policies.define import covered_types
from policies.gate import evaluate_plan
from policies.pack import ALL_POLICIES
from tests.policies.harness import SPEC, TAGS, provider, res, tenant_plan

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
KNOWN_TYPES = sorted({t for p in ALL_POLICIES for t in covered_types(p.name)})
GENERIC_TYPES = ["aws:ec2/vpc:Vpc", "aws:ec2/route:Route"]


def _names_the_rules_read() -> list[str]:
    """Every camelCase or IAM-style name written in the pack's source."""
    source = "\n".join(p.read_text() for p in PACK_DIR.rglob("*.py"))
    found = set(re.findall(r"\"([a-zA-Z][a-zA-Z0-9:]{1,40})\"", source))
    return sorted(n for n in found if not n.startswith(("aws:", "pulumi:")))


NAMES = _names_the_rules_read()
IAM_NAMES = [
    "Version",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "AWS",
    "Service",
    "Federated",
    "StringEquals",
    "StringLike",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "StringEqualsIfExists",
    "ArnLike",
    "IpAddress",
    "Bool",
    "Null",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIp",
    "aws:PrincipalOrgID",
    "aws:PrincipalAccount",
    "aws:SecureTransport",
    "sts:ExternalId",
    "kms:CallerAccount",
]
UNKNOWNS = [
    UNKNOWN_STRING_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_OBJECT_VALUE,
]
WORDS = [
    *UNKNOWNS,
    "",
    "true",
    "false",
    "*",
    "-1",
    "all",
    "tcp",
    "6",
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/1",
    "10.0.0.0/8",
    "not-a-cidr",
    "Allow",
    "Deny",
    "HTTP",
    "HTTPS",
    "TLS",
    "redirect",
    "forward",
    "NONE",
    "AES256",
    "aws:kms",
    "required",
    "optional",
    "disabled",
    "application",
    "ingress",
    "egress",
    "Enabled",
    "BucketOwnerEnforced",
    "123456789012",
    "210987654321",
    "s3:*",
    "arn:aws:iam::210987654321:root",
    "arn:aws:s3:::acme-data",
    "arn:aws:sns:eu-west-1:123456789012:t",
    "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
    "ELBSecurityPolicy-2016-08",
    "alias/aws/sqs",
    "DB_PASSWORD=hunter2hunter2",
    "IyEvYmluL2Jhc2gKREJfUEFTU1dPUkQ9aHVudGVyMgo=",
    "{not json",
    '{"Statement": "x"}',
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)


def _values(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(keys), inner, max_size=5),
        ),
        max_leaves=25,
    )


iam_values = _values(IAM_NAMES)
statement = st.dictionaries(st.sampled_from(IAM_NAMES), iam_values, max_size=7)
documents = st.one_of(
    st.builds(lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(statement, max_size=3)),
    st.builds(lambda s: {"Statement": s}, statement),
    iam_values,
)
document_strings = documents.map(json.dumps)
values = st.one_of(_values(NAMES), document_strings, documents)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested as deep as protobuf lets the engine send (100 levels)."""
    value: Any = draw(scalars)
    for _ in range(draw(st.integers(min_value=10, max_value=60))):
        value = [value] if draw(st.booleans()) else {draw(st.sampled_from(NAMES)): value}
    return value


props = st.dictionaries(st.sampled_from(NAMES), st.one_of(values, deep()), max_size=12).map(
    lambda p: {**p, "tagsAll": TAGS} if "tagsAll" not in p else p
)


@st.composite
def stacks(draw: st.DrawFn, resource_type: str) -> Any:
    """One resource of `resource_type` and a few others, as one stack."""
    types = [resource_type, *draw(st.lists(st.sampled_from(KNOWN_TYPES), max_size=3))]
    resources = []
    for index, type_ in enumerate(types):
        resources.append(
            res(
                type_,
                f"acme-r{index}",
                draw(props),
                outputs=draw(st.dictionaries(st.sampled_from(["id", "arn", "name"]), values)),
                protect=draw(st.booleans()),
                provider=draw(st.sampled_from(["acme-aws", None])),
                depends_on=tuple(resources[: draw(st.integers(0, len(resources)))]),
            )
        )
    provider_inputs = draw(
        st.dictionaries(st.sampled_from(["allowedAccountIds", "assumeRoles"]), values, max_size=2)
    )
    return tenant_plan(provider(**provider_inputs), *resources, with_provider=False)


specs = st.one_of(
    st.none(),
    st.just(SPEC),
    st.builds(lambda o: {**SPEC, "operator": o}, values),
)


def test_the_pack_knows_the_issues_resource_types() -> None:
    assert len(KNOWN_TYPES) >= 60
    for expected in (
        "aws:ec2/instance:Instance",
        "aws:ebs/volume:Volume",
        "aws:sqs/queue:Queue",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:secretsmanager/secret:Secret",
        "aws:cloudtrail/trail:Trail",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/listener:Listener",
        "aws:rds/cluster:Cluster",
        "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:lambda/function:Function",
        "aws:lambda/functionUrl:FunctionUrl",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    ):
        assert expected in KNOWN_TYPES, expected


@pytest.mark.parametrize("resource_type", [*KNOWN_TYPES, *GENERIC_TYPES])
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_policy_raises_through_the_gate(resource_type: str, data: st.DataObject) -> None:
    plan = data.draw(stacks(resource_type))
    spec = data.draw(specs)
    stack_config = {"tenants:spec": json.dumps(spec)} if spec is not None else {}
    evaluation = evaluate_plan(plan, stack_config=stack_config, policies=ALL_POLICIES)
    assert all(isinstance(f.message, str) and f.message for f in evaluation.findings)


RESOURCE_POLICIES = [p for p in ALL_POLICIES if isinstance(p, ResourceValidationPolicy)]


@st.composite
def raw_props(draw: st.DrawFn) -> dict[str, Any]:
    """Props as plain Python values, nested deeper than the engine could send them."""
    base = draw(props)
    value: Any = draw(scalars)
    for _ in range(draw(st.integers(min_value=100, max_value=300))):
        value = [value] if draw(st.booleans()) else {draw(st.sampled_from(NAMES)): value}
    return {**base, draw(st.sampled_from(NAMES)): value}


def _defaults(policy: ResourceValidationPolicy) -> dict[str, Any]:
    schema = policy.config_schema.properties if policy.config_schema else {}
    return {name: spec["default"] for name, spec in schema.items()}


def _ignore(message: str, urn: str | None = None) -> None:
    del message, urn


@pytest.mark.parametrize("resource_type", KNOWN_TYPES)
@settings(
    max_examples=5, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(inputs=raw_props())
def test_no_resource_policy_raises_on_plain_values(
    resource_type: str, inputs: dict[str, Any]
) -> None:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    urn = f"urn:pulumi:acme::tenants::{resource_type}::r"
    for policy in RESOURCE_POLICIES:
        args = ResourceValidationArgs(
            resource_type, inputs, urn, "r", options, None, _defaults(policy), {}
        )
        # An unknown value is reported by the engine as "can't run during preview".
        with contextlib.suppress(UnknownValueError, _NotApplicableError):
            policy.validate(args, _ignore)
