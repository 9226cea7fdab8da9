"""IAM permission and trust documents, attachments and boundaries."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import iam
from tests.policies.harness import TAGS, policy_document, res, violations

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
BUCKET_ARN = "arn:aws:s3:::acme-data-1a2b"
WORKLOAD = policy_document(
    {
        "Sid": "TenantBuckets",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    }
)
EC2_TRUST = policy_document(
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
)
BOUNDARY = "arn:aws:iam::123456789012:policy/tenant-acme-boundary"


def role(**changes: Any) -> Any:
    inputs = {
        "name": "tenant-acme-workload",
        "assumeRolePolicy": EC2_TRUST,
        "permissionsBoundary": BOUNDARY,
        **changes,
    }
    return res(
        iam.ROLE,
        "acme-workload-role",
        {k: v for k, v in inputs.items() if v is not None},
        tags=TAGS,
    )


def role_policy(*statements: dict[str, Any]) -> Any:
    document = policy_document(*statements) if statements else WORKLOAD
    return res(ROLE_POLICY, "acme-workload-policy", {"role": "r", "policy": document})


POLICIES = [
    iam.iam_policy_disallow_admin_access,
    iam.iam_policy_disallow_privilege_escalation,
    iam.iam_role_disallow_wildcard_trust,
    iam.iam_role_enforce_external_id,
    iam.iam_role_disallow_admin_attachment,
    iam.iam_role_missing_permissions_boundary,
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_baseline_passes(policy: Any) -> None:
    assert violations(policy, role(), role_policy()) == []


@pytest.mark.parametrize("action", ["*", ["*:*"], ["s3:GetObject", "*"]])
def test_admin_access(action: Any) -> None:
    resource = role_policy({"Sid": "All", "Effect": "Allow", "Action": action, "Resource": "*"})
    assert violations(iam.iam_policy_disallow_admin_access, resource) == [
        "RolePolicy 'acme-workload-policy' allows every action on every resource ('*' on '*') "
        "in statement 'All' of its policy"
    ]


def test_not_action_on_everything() -> None:
    resource = role_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    [message] = violations(iam.iam_policy_disallow_admin_access, resource)
    assert "allows everything except iam:* on '*'" in message


def test_admin_in_role_inline_policy_and_managed_policy() -> None:
    admin = policy_document({"Effect": "Allow", "Action": "*", "Resource": "*"})
    inline = role(inlinePolicies=[{"name": "admin", "policy": admin}])
    managed = res(MANAGED_POLICY, "acme-admin", {"policy": admin})
    messages = violations(iam.iam_policy_disallow_admin_access, inline, managed)
    assert messages == [
        "Role 'acme-workload-role' allows every action on every resource ('*' on '*') in a "
        "statement of its inline policy 'admin'",
        "Policy 'acme-admin' allows every action on every resource ('*' on '*') in a statement "
        "of its policy",
    ]


def test_deny_statements_are_not_grants() -> None:
    resource = role_policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert violations(iam.iam_policy_disallow_admin_access, resource) == []


@pytest.mark.parametrize(
    ("action", "reported"),
    [
        ("iam:PutRolePolicy", "iam:PutRolePolicy"),
        ("iam:*", "iam:AttachRolePolicy, iam:AttachUserPolicy"),
        ("IAM:createpolicyversion", "iam:CreatePolicyVersion"),
    ],
)
def test_privilege_escalation(action: str, reported: str) -> None:
    resource = role_policy({"Sid": "Esc", "Effect": "Allow", "Action": action, "Resource": "*"})
    messages = violations(iam.iam_policy_disallow_privilege_escalation, resource)
    assert messages[0].startswith(
        f"RolePolicy 'acme-workload-policy' grants privilege-escalation actions {reported}"
    )
    # `iam:*` on `*` also covers iam:PassRole on any role, reported on its own.
    assert len(messages) == (2 if action == "iam:*" else 1)


def test_pass_role_only_on_named_roles() -> None:
    policy = iam.iam_policy_disallow_privilege_escalation
    anywhere = role_policy({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    assert violations(policy, anywhere) == [
        "RolePolicy 'acme-workload-policy' allows iam:PassRole on any role ('*') in a statement "
        "of its policy"
    ]
    named = role_policy(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::123456789012:role/tenant-acme-workload",
        }
    )
    assert violations(policy, named) == []


def test_escalation_list_is_configurable() -> None:
    resource = role_policy({"Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": "*"})
    policy = iam.iam_policy_disallow_privilege_escalation
    assert violations(policy, resource, config={"escalationActions": ["iam:CreateUser"]}) == []


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
def test_wildcard_trust(principal: Any) -> None:
    trust = policy_document({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    assert violations(iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy=trust)) == [
        "Role 'acme-workload-role' can be assumed by anyone ('*') per a statement of its "
        "trust policy"
    ]


def test_missing_trust_policy() -> None:
    assert violations(iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy="")) == [
        "Role 'acme-workload-role' has no trust policy"
    ]


def test_cross_account_trust_needs_external_id() -> None:
    statement = {
        "Sid": "Operator",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "sts:AssumeRole",
    }
    bare = role(assumeRolePolicy=policy_document(statement))
    assert violations(iam.iam_role_enforce_external_id, bare) == [
        "Role 'acme-workload-role' trusts arn:aws:iam::210987654321:root without an sts:ExternalId "
        "condition in statement 'Operator'; a confused deputy could assume it"
    ]
    guarded = {
        **statement,
        "Condition": {"StringEquals": {"sts:ExternalId": "acme-ops-1234567890"}},
    }
    assert (
        violations(
            iam.iam_role_enforce_external_id, role(assumeRolePolicy=policy_document(guarded))
        )
        == []
    )


@pytest.mark.parametrize("type_", iam.ATTACHMENT_TYPES)
def test_admin_attachment(type_: str) -> None:
    attachment = res(
        type_,
        "acme-attach",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    [message] = violations(iam.iam_role_disallow_admin_attachment, attachment)
    assert message.endswith(
        "'acme-attach' attaches the AWS managed policy arn:aws:iam::aws:policy/AdministratorAccess"
    )


def test_customer_policy_with_an_admin_like_name_is_not_aws_managed() -> None:
    own = res(
        iam.ATTACHMENT_TYPES[0],
        "acme-attach",
        {"role": "r", "policyArn": "arn:aws:iam::123456789012:policy/AdministratorAccess"},
    )
    assert violations(iam.iam_role_disallow_admin_attachment, own) == []


def test_role_without_boundary() -> None:
    assert violations(
        iam.iam_role_missing_permissions_boundary, role(permissionsBoundary=None)
    ) == ["Role 'acme-workload-role' has no permissions boundary"]
