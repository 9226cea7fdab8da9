"""Resource-based policies of every service: open to no one, and to no untrusted account."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.iam_documents import (
    BUCKET_POLICY,
    KMS_KEY,
    KMS_KEY_POLICY,
    LOG_RESOURCE_POLICY,
    ROLE,
    SECRET,
    SECRET_POLICY,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
)
from policies.rules import data, iam, kms, messaging, s3, secrets
from tests.policies.harness import ACCOUNT, SPEC, TAGS, policy_document, provider, res, violations

OTHER = "210987654321"
STRANGER = "999988887777"
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:acme-alarms"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:acme-jobs"
QUEUE_URL = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/acme-jobs"
SECRET_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:tenants/acme/app-1a2b3c"
MAIL_LOGS = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/tenants/*/mail:*"
KEY_ADMIN = {
    "Sid": "AccountAdministration",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}

# (type, the document's prop, other inputs, a Resource for statements) per document carrier
CARRIERS: dict[str, tuple[str, dict[str, Any], str]] = {
    BUCKET_POLICY: ("policy", {"bucket": "acme-data-1a2b"}, "arn:aws:s3:::acme-data-1a2b/*"),
    KMS_KEY: ("policy", {"description": "k"}, "*"),
    KMS_KEY_POLICY: ("policy", {"keyId": "k-1"}, "*"),
    SNS_TOPIC: ("policy", {"name": "acme-alarms"}, TOPIC_ARN),
    SNS_TOPIC_POLICY: ("policy", {"arn": TOPIC_ARN}, TOPIC_ARN),
    SQS_QUEUE: ("policy", {"name": "acme-jobs"}, QUEUE_ARN),
    SQS_QUEUE_POLICY: ("policy", {"queueUrl": QUEUE_URL}, QUEUE_ARN),
    SECRET: ("policy", {"name": "tenants/acme/app", "kmsKeyId": "k"}, "*"),
    SECRET_POLICY: ("policy", {"secretArn": SECRET_ARN}, "*"),
    ROLE: ("assumeRolePolicy", {"permissionsBoundary": "b"}, ""),
    LOG_RESOURCE_POLICY: ("policyDocument", {"policyName": "tenants-mail-events"}, MAIL_LOGS),
}
PUBLIC_POLICIES = {
    BUCKET_POLICY: s3.s3_bucket_disallow_public_policy,
    KMS_KEY: kms.kms_key_disallow_wildcard_principal,
    KMS_KEY_POLICY: kms.kms_key_disallow_wildcard_principal,
    SNS_TOPIC: messaging.sns_topic_disallow_public_policy,
    SNS_TOPIC_POLICY: messaging.sns_topic_disallow_public_policy,
    SQS_QUEUE: messaging.sqs_queue_disallow_public_policy,
    SQS_QUEUE_POLICY: messaging.sqs_queue_disallow_public_policy,
    SECRET: secrets.secretsmanager_secret_disallow_public_policy,
    SECRET_POLICY: secrets.secretsmanager_secret_disallow_public_policy,
    ROLE: iam.iam_role_disallow_wildcard_trust,
    LOG_RESOURCE_POLICY: data.cloudwatch_log_resource_policy_disallow_public,
}
UNTRUSTED = iam.iam_resource_policy_disallow_untrusted_accounts


def carrier(type_: str, *statements: dict[str, Any]) -> Any:
    key, inputs, resource = CARRIERS[type_]
    shaped = [{**({"Resource": resource} if resource else {}), **s} for s in statements]
    if type_ in (KMS_KEY, KMS_KEY_POLICY):
        shaped.insert(0, KEY_ADMIN)
    return res(type_, "acme-thing", {**inputs, key: policy_document(*shaped)}, tags=TAGS)


def action(type_: str) -> str:
    return {ROLE: "sts:AssumeRole"}.get(type_, "*")


@pytest.mark.parametrize("type_", CARRIERS)
def test_baselines_pass(type_: str) -> None:
    service = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
    resource = carrier(type_, {**service, "Action": action(type_)})
    assert violations(PUBLIC_POLICIES[type_], resource) == []
    assert violations(UNTRUSTED, resource) == []


@pytest.mark.parametrize("type_", CARRIERS)
@pytest.mark.parametrize(
    "condition",
    [None, {"Bool": {"aws:SecureTransport": "true"}}, {"StringLike": {"aws:SourceArn": "*"}}],
)
def test_everyone_without_a_restricting_condition(type_: str, condition: Any) -> None:
    statement = {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": action(type_)}
    if condition:
        statement["Condition"] = condition
    [message] = violations(PUBLIC_POLICIES[type_], carrier(type_, statement))
    assert "anyone ('*')" in message or "everyone ('*')" in message
    if condition:
        assert "restricts neither the principal nor the source" in message


@pytest.mark.parametrize("type_", CARRIERS)
@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/acme-*"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f60718"}},
        {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}},
    ],
)
def test_everyone_restricted_by_a_condition_is_not_public(type_: str, condition: Any) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": action(type_),
        "Condition": condition,
    }
    assert violations(PUBLIC_POLICIES[type_], carrier(type_, statement)) == []


@pytest.mark.parametrize("type_", CARRIERS)
def test_another_account_is_refused_unless_allowed(type_: str) -> None:
    statement = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{STRANGER}:root"},
        "Action": action(type_),
        "Condition": {"StringEquals": {"sts:ExternalId": "partner-1234"}},
    }
    resource = carrier(type_, statement)
    [message] = violations(UNTRUSTED, resource)
    assert f"grants account(s) {STRANGER} in statement 'Partner'" in message
    assert violations(UNTRUSTED, resource, config={"allowedAccounts": [STRANGER]}) == []


@pytest.mark.parametrize(
    "type_", [KMS_KEY, SNS_TOPIC_POLICY, SQS_QUEUE_POLICY, SQS_QUEUE, LOG_RESOURCE_POLICY]
)
def test_the_resources_own_account_is_not_another_account(type_: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/tenant-acme-workload"},
        "Action": "*",
    }
    assert violations(UNTRUSTED, carrier(type_, statement)) == []


def test_an_account_pinned_by_a_condition_is_granted() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Condition": {"StringEquals": {"kms:CallerAccount": STRANGER}},
    }
    resource = carrier(KMS_KEY, statement)
    assert violations(kms.kms_key_disallow_wildcard_principal, resource) == []
    [message] = violations(UNTRUSTED, resource)
    assert f"grants account(s) {STRANGER}" in message


def test_without_evidence_every_named_account_needs_the_allow_list() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"},
        "Action": "s3:GetObject",
    }
    bucket_policy = carrier(BUCKET_POLICY, statement)
    assert len(violations(UNTRUSTED, bucket_policy)) == 1
    known = provider(allowedAccountIds=[ACCOUNT])
    assert violations(UNTRUSTED, known, bucket_policy, with_provider=False) == []


@pytest.mark.parametrize(
    ("account", "actions", "flagged"),
    [
        ("156460612806", "s3:PutObject", False),  # eu-west-1's load-balancer log delivery
        ("054676820928", ["s3:PutObject"], False),  # eu-central-1's
        ("156460612806", "s3:GetObject", True),  # the log account may only write logs
        ("156460612806", ["s3:PutObject", "s3:DeleteObject"], True),
        (STRANGER, "s3:PutObject", True),  # not an AWS log-delivery account
    ],
)
def test_aws_load_balancer_log_delivery_may_write_access_logs(
    account: str, actions: Any, flagged: bool
) -> None:
    statement = {
        "Sid": "AllowLoadBalancerAccessLogs",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": actions,
    }
    found = violations(UNTRUSTED, carrier(BUCKET_POLICY, statement))
    assert bool([m for m in found if account in m]) is flagged


def test_a_key_policy_with_two_administrator_accounts_proves_neither() -> None:
    other_admin = {**KEY_ADMIN, "Principal": {"AWS": f"arn:aws:iam::{STRANGER}:root"}}
    messages = violations(UNTRUSTED, carrier(KMS_KEY, other_admin))
    assert len(messages) == 2


def test_the_tenants_operator_account_is_allowed_for_its_stack() -> None:
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "acme-ops-7f3c"}},
    }
    role = carrier(ROLE, trust)
    spec = {**SPEC, "operator": {"account_id": OTHER, "external_id": "acme-ops-7f3c"}}
    assert violations(UNTRUSTED, role, spec=spec) == []
    assert len(violations(UNTRUSTED, role, spec=SPEC)) == 1


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"principal": STRANGER}, f"lets account {STRANGER} invoke the function"),
        ({"principal": f"arn:aws:iam::{STRANGER}:root"}, f"lets account {STRANGER}"),
        ({"principal": "s3.amazonaws.com", "sourceAccount": ACCOUNT}, None),
        (
            {
                "principal": ACCOUNT,
                "function": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:acme-hook",
            },
            None,
        ),
    ],
)
def test_lambda_permissions_for_other_accounts(
    inputs: dict[str, Any], expected: str | None
) -> None:
    permission = res(
        iam.LAMBDA_PERMISSION,
        "acme-permission",
        {"action": "lambda:InvokeFunction", "function": "acme-hook", **inputs},
    )
    messages = violations(UNTRUSTED, permission)
    if expected is None:
        assert messages == []
    else:
        [message] = messages
        assert expected in message


@pytest.mark.parametrize("type_", [SNS_TOPIC_POLICY, SQS_QUEUE_POLICY, SECRET_POLICY])
def test_a_policy_that_is_not_json(type_: str) -> None:
    key, inputs, _ = CARRIERS[type_]
    resource = res(type_, "acme-thing", {**inputs, key: "{not json"})
    [message] = violations(PUBLIC_POLICIES[type_], resource)
    assert "policy that is not valid JSON" in message
    assert violations(UNTRUSTED, resource) == []


def test_documents_given_as_objects_are_read_too() -> None:
    _, inputs, resource = CARRIERS[SNS_TOPIC_POLICY]
    document = json.loads(
        policy_document(
            {"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": resource}
        )
    )
    topic_policy = res(SNS_TOPIC_POLICY, "acme-topic-policy", {**inputs, "policy": document})
    assert len(violations(messaging.sns_topic_disallow_public_policy, topic_policy)) == 1


@pytest.mark.parametrize(
    ("grantee", "flagged"),
    [
        (f"arn:aws:iam::{STRANGER}:role/reader", True),
        (f"arn:aws:iam::{ACCOUNT}:role/reader", False),
    ],
)
def test_kms_grants_to_other_accounts(grantee: str, flagged: bool) -> None:
    grant = res(
        iam.KMS_GRANT,
        "acme-grant",
        {
            "keyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k-1",
            "granteePrincipal": grantee,
            "operations": ["Decrypt"],
        },
    )
    messages = violations(UNTRUSTED, grant)
    assert bool(messages) is flagged
    if flagged:
        assert f"lets account {STRANGER} use the key through a grant" in messages[0]


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ({"StringEquals": {"aws:SourceAccount": STRANGER}}, True),
        ({"ArnLike": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{STRANGER}:rule/*"}}, True),
        ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, False),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::acme-uploads-1a2b"}}, False),
    ],
)
def test_services_acting_for_another_account(source: Any, flagged: bool) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Condition": source,
    }
    messages = violations(UNTRUSTED, carrier(SNS_TOPIC_POLICY, statement))
    assert bool(messages) is flagged
    if flagged:
        assert f"lets AWS services act for account(s) {STRANGER}" in messages[0]


def test_a_source_account_without_a_proven_own_account_is_trusted() -> None:
    # The AWS-documented policy of a server access log bucket: the bucket ARN names no account.
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    assert violations(UNTRUSTED, carrier(BUCKET_POLICY, statement)) == []


def test_the_shared_mail_log_policy_lets_events_act_for_its_own_account_only() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    assert violations(UNTRUSTED, carrier(LOG_RESOURCE_POLICY, statement)) == []
    foreign = {**statement, "Condition": {"StringEquals": {"aws:SourceAccount": STRANGER}}}
    [message] = violations(UNTRUSTED, carrier(LOG_RESOURCE_POLICY, foreign))
    assert f"lets AWS services act for account(s) {STRANGER}" in message
