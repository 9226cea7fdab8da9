"""KMS policies on a baseline key."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import kms
from tests.policies.harness import TAGS, changed, evaluate, policy_document, res, violations

KEY: dict[str, Any] = {
    "description": "acme data key",
    "enableKeyRotation": True,
    "deletionWindowInDays": 30,
    "policy": policy_document(
        {
            "Sid": "AccountAdmin",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*"],
            "Resource": "*",
        },
    ),
}
POLICIES = [
    kms.kms_key_enable_rotation,
    kms.kms_key_disallow_lockout_bypass,
    kms.kms_key_disallow_wildcard_principal,
]


def key(inputs: dict[str, Any]) -> Any:
    return res(kms.KEY, "acme-storage-key", inputs, tags=TAGS, protect=True)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_baseline_key_passes(policy: Any) -> None:
    assert violations(policy, key(KEY)) == []


@pytest.mark.parametrize("value", [False, None])
def test_rotation_off_or_unset(value: Any) -> None:
    assert violations(
        kms.kms_key_enable_rotation, key(changed(KEY, "enableKeyRotation", value))
    ) == ["Key 'acme-storage-key' does not rotate its key material; set enableKeyRotation"]


def test_rotation_not_applicable_to_asymmetric_keys() -> None:
    asymmetric = changed(
        changed(KEY, "enableKeyRotation", None), "customerMasterKeySpec", "RSA_2048"
    )
    result = evaluate(kms.kms_key_enable_rotation, key(asymmetric))
    assert result.findings == ()
    [skipped] = result.not_applicable
    assert skipped.policy == "aws-kms-key-enable-rotation"
    assert "RSA_2048" in skipped.reason


def test_lockout_bypass() -> None:
    bypass = changed(KEY, "bypassPolicyLockoutSafetyCheck", True)
    assert violations(kms.kms_key_disallow_lockout_bypass, key(bypass)) == [
        "Key 'acme-storage-key' bypasses the policy lockout safety check; the key may become "
        "unmanageable"
    ]


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::1:root", "*"]}])
def test_wildcard_principal(principal: Any) -> None:
    document = policy_document(
        {
            "Sid": "Open",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    assert violations(
        kms.kms_key_disallow_wildcard_principal, key(changed(KEY, "policy", document))
    ) == ["Key 'acme-storage-key' allows everyone ('*') without a condition in statement 'Open'"]


def test_wildcard_principal_with_a_condition_is_scoped() -> None:
    document = policy_document(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}},
        }
    )
    assert (
        violations(kms.kms_key_disallow_wildcard_principal, key(changed(KEY, "policy", document)))
        == []
    )


@pytest.mark.parametrize(
    ("condition", "public"),
    [
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}, True),
        ({"StringEqualsIfExists": {"kms:CallerAccount": "123456789012"}}, True),
        ({"StringEquals": {"kms:CallerAccount": ["123456789012"]}}, False),
        (
            {
                "StringEquals": {
                    "kms:ViaService": "s3.eu-west-1.amazonaws.com",
                    "kms:CallerAccount": "123456789012",
                }
            },
            False,
        ),
    ],
)
def test_only_conditions_that_restrict_the_caller_count(condition: Any, public: bool) -> None:
    document = policy_document(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": condition,
        }
    )
    messages = violations(
        kms.kms_key_disallow_wildcard_principal, key(changed(KEY, "policy", document))
    )
    assert bool(messages) is public


def test_key_policy_resources_are_checked_like_inline_policies() -> None:
    document = policy_document({"Effect": "Allow", "Principal": "*", "Action": "kms:*"})
    key_policy = res(
        kms.KEY_POLICY,
        "acme-key-policy",
        {"keyId": "k-1", "policy": document, "bypassPolicyLockoutSafetyCheck": True},
    )
    assert violations(kms.kms_key_disallow_wildcard_principal, key_policy) == [
        "KeyPolicy 'acme-key-policy' allows everyone ('*') without a condition in a statement"
    ]
    assert len(violations(kms.kms_key_disallow_lockout_bypass, key_policy)) == 1
