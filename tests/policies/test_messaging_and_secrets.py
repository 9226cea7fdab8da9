"""SQS queue encryption and Secrets Manager keys and rotation (policies: test_resource_policies)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.iam_documents import SECRET, SQS_QUEUE
from policies.rules import messaging, secrets
from tests.policies.harness import TAGS, evaluate, res, violations

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1111"


@pytest.mark.parametrize(
    ("inputs", "config", "expected"),
    [
        ({"kmsMasterKeyId": KEY_ARN}, None, None),
        ({"kmsMasterKeyId": KEY_ARN}, {"requireCustomerKey": True}, None),
        ({"sqsManagedSseEnabled": True}, None, None),
        ({}, None, None),  # new queues get SSE-SQS
        ({"sqsManagedSseEnabled": "false"}, None, "is not encrypted at rest"),
        ({"sqsManagedSseEnabled": True}, {"requireCustomerKey": True}, "SQS-owned key"),
        ({"kmsMasterKeyId": "alias/aws/sqs"}, {"requireCustomerKey": True}, "AWS-managed key"),
        ({"kmsMasterKeyId": "alias/aws/sqs"}, None, None),
    ],
)
def test_queue_encryption(inputs: dict[str, Any], config: Any, expected: str | None) -> None:
    queue = res(SQS_QUEUE, "acme-jobs", {"name": "acme-jobs", **inputs}, tags=TAGS)
    messages = violations(messaging.sqs_queue_enforce_encryption, queue, config=config)
    if expected is None:
        assert messages == []
    else:
        [message] = messages
        assert message.startswith("Queue 'acme-jobs' ") and expected in message


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (KEY_ARN, None),
        ("alias/tenant-acme", None),
        (None, "is encrypted with the AWS-managed aws/secretsmanager key"),
        ("alias/aws/secretsmanager", "is encrypted with the AWS-managed"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/aws/secretsmanager", "AWS-managed"),
    ],
)
def test_secret_key(key: str | None, expected: str | None) -> None:
    inputs = {"name": "tenants/acme/app", **({"kmsKeyId": key} if key else {})}
    secret = res(SECRET, "acme-secret", inputs, tags=TAGS, protect=True)
    messages = violations(secrets.secretsmanager_secret_enforce_kms_encryption, secret)
    assert (messages == []) if expected is None else (expected in messages[0])


def rotation_stack(**rules: Any) -> list[Any]:
    secret = res(
        SECRET,
        "acme-secret",
        {"name": "tenants/acme/app", "kmsKeyId": KEY_ARN},
        outputs={"arn": "arn:aws:secretsmanager:eu-west-1:1:secret:tenants/acme/app-1a2b3c"},
    )
    if not rules:
        return [secret]
    rotation = res(
        secrets.ROTATION,
        "acme-secret-rotation",
        {
            "secretId": "arn:aws:secretsmanager:eu-west-1:1:secret:tenants/acme/app-1a2b3c",
            "rotationLambdaArn": "arn:aws:lambda:eu-west-1:1:function:rotate",
            **rules,
        },
    )
    return [secret, rotation]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"rotationRules": {"automaticallyAfterDays": 30}}, None),
        ({"rotationRules": {"scheduleExpression": "rate(10 days)"}}, None),
        ({}, "is never rotated"),
        ({"rotationRules": {"automaticallyAfterDays": 365}}, "rotates every 365 days"),
        ({"rotationRules": {}}, "has a rotation without a schedule"),
        (
            {"rotationEnabled": False, "rotationRules": {"automaticallyAfterDays": 30}},
            "has its rotation turned off",
        ),
    ],
)
def test_secret_rotation_is_advised(rules: dict[str, Any], expected: str | None) -> None:
    findings = evaluate(secrets.secretsmanager_secret_missing_rotation, *rotation_stack(**rules))
    if expected is None:
        assert findings.findings == ()
    else:
        [finding] = findings.findings
        assert finding.enforcement == "advisory"
        assert finding.message.startswith(f"Secret 'acme-secret' {expected}")
