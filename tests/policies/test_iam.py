"""IAM permission and trust documents, attachments and boundaries."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import iam
from tests.policies.harness import TAGS, policy_document, provider, res, violations

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
    assert "allows everything except iam:* on every resource in a statement" in message


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


OTHER = "210987654321"
OPERATOR = {
    "Sid": "Operator",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
    "Action": "sts:AssumeRole",
}


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": [{"sts:ExternalId": "acme-ops-1234567890"}]},  # list-valued block
        {"StringEquals": {"sts:ExternalId": ["acme-ops-1", "acme-ops-2"]}},
        {"StringLike": {"sts:ExternalId": "acme-ops-*"}},
    ],
)
def test_external_id_in_any_shape_is_accepted(condition: Any) -> None:
    trust = policy_document({**OPERATOR, "Condition": condition})
    assert violations(iam.iam_role_enforce_external_id, role(assumeRolePolicy=trust)) == []


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"sts:ExternalId": ""}},
        {"StringEquals": {"sts:ExternalId": []}},
        {"StringEqualsIfExists": {"sts:ExternalId": "acme-ops-1"}},
        {"StringLike": {"sts:ExternalId": "*"}},
        {"StringEquals": {"aws:PrincipalAccount": OTHER}},  # the whole other account
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringEquals": ["sts:ExternalId", "x"]},
        {"StringEquals": "sts:ExternalId"},
    ],
)
def test_external_id_that_is_not_required(condition: Any) -> None:
    trust = policy_document({**OPERATOR, "Condition": condition})
    [message] = violations(iam.iam_role_enforce_external_id, role(assumeRolePolicy=trust))
    assert "without an sts:ExternalId condition in statement 'Operator'" in message


def test_trust_of_the_own_account_needs_no_external_id() -> None:
    own = {**OPERATOR, "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"}}
    trusting = role(assumeRolePolicy=policy_document(own))
    policy = iam.iam_role_enforce_external_id
    # Without evidence of the role's own account, the account counts as another one.
    assert len(violations(policy, trusting)) == 1
    known = provider(allowedAccountIds=["123456789012"])
    assert violations(policy, known, trusting, with_provider=False) == []


def test_wildcard_trust_with_a_condition_that_restricts_nothing() -> None:
    trust = policy_document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        }
    )
    assert violations(iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy=trust)) == [
        "Role 'acme-workload-role' can be assumed by anyone ('*') per a statement of its trust "
        "policy; its condition on aws:SecureTransport restricts neither the principal nor the "
        "source"
    ]
    pinned = policy_document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        }
    )
    assert violations(iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy=pinned)) == []


def test_not_resource_with_every_action() -> None:
    resource = role_policy(
        {"Sid": "Almost", "Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::x"}
    )
    assert violations(iam.iam_policy_disallow_admin_access, resource) == [
        "RolePolicy 'acme-workload-policy' allows every action on every resource except "
        "arn:aws:s3:::x (NotResource) in statement 'Almost' of its policy"
    ]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Action": "s3:*", "Resource": "*"}, "allows every action of s3:* on every resource"),
        ({"Action": ["ec2:*"], "Resource": "arn:aws:ec2:*:*:*"}, "of ec2:* on every resource"),
        ({"Action": "dynamodb:*", "NotResource": "arn:aws:dynamodb:*:*:table/x"}, "except"),
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::*"}, "allows every action of s3:*"),
    ],
)
def test_full_service_access(statement: dict[str, Any], expected: str) -> None:
    resource = role_policy({"Effect": "Allow", **statement})
    [message] = violations(iam.iam_policy_disallow_full_service_access, resource)
    assert expected in message


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": "s3:*", "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"]},
        {"Action": "s3:Get*", "Resource": "*"},
        {"Action": "cloudwatch:PutMetricData", "Resource": "*"},
        {"Action": "*", "Resource": "*"},  # reported by aws-iam-policy-disallow-admin-access
    ],
)
def test_full_service_access_look_alikes(statement: dict[str, Any]) -> None:
    resource = role_policy({"Effect": "Allow", **statement})
    assert violations(iam.iam_policy_disallow_full_service_access, resource) == []


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"),
    [
        (
            iam.USER_POLICY,
            {"user": "alice", "policy": WORKLOAD},
            "gives user 'alice' an inline policy",
        ),
        (
            iam.USER_POLICY_ATTACHMENT,
            {"user": "alice", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
            "attaches arn:aws:iam::aws:policy/ReadOnlyAccess to user 'alice'",
        ),
        (
            iam.POLICY_ATTACHMENT,
            {"users": ["alice", "bob"], "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
            "attaches arn:aws:iam::aws:policy/ReadOnlyAccess to users 'alice', 'bob'",
        ),
        (
            iam.USER_POLICIES_EXCLUSIVE,
            {"userName": "alice", "policyNames": ["inline-admin"]},
            "gives user 'alice' the policies inline-admin",
        ),
        (
            iam.USER_ATTACHMENTS_EXCLUSIVE,
            {"userName": "alice", "policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            "gives user 'alice' the policies arn:aws:iam::aws:policy/ReadOnlyAccess",
        ),
    ],
)
def test_users_hold_no_policies(type_: str, inputs: dict[str, Any], expected: str) -> None:
    [message] = violations(iam.iam_user_disallow_policies, res(type_, "acme-user-policy", inputs))
    assert expected in message


def test_policy_attachments_to_roles_and_groups_are_not_user_policies() -> None:
    attachment = res(
        iam.POLICY_ATTACHMENT,
        "acme-attach",
        {"roles": ["r"], "groups": ["g"], "users": [], "policyArn": "arn:aws:iam::1:policy/p"},
    )
    # An exclusive list that is empty strips the user of every policy: what the rule wants.
    emptied = res(iam.USER_POLICIES_EXCLUSIVE, "acme-none", {"userName": "a", "policyNames": []})
    assert violations(iam.iam_user_disallow_policies, attachment, emptied) == []


GITHUB = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


@pytest.mark.parametrize(
    ("condition", "open_"),
    [
        ({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}, True),
        ({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}, True),
        ({"StringLike": {"token.actions.githubusercontent.com:sub": "*"}}, True),
        ({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme*"}}, True),
        (None, True),
        ({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}}, False),
        (
            {
                "StringEquals": {
                    "token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main",
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                }
            },
            False,
        ),
    ],
)
def test_web_identity_trust_pins_the_subject(condition: Any, open_: bool) -> None:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": GITHUB},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition:
        statement["Condition"] = condition
    messages = violations(
        iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy=policy_document(statement))
    )
    if open_:
        assert messages == [
            "Role 'acme-workload-role' can be assumed by any identity of "
            f"{GITHUB} per a statement of its trust policy; pin the subject with a condition "
            "on its ':sub' key"
        ]
    else:
        assert messages == []


def test_saml_federation_is_the_organizations_own_identity_provider() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/Okta"},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
    }
    trust = policy_document(statement)
    assert violations(iam.iam_role_disallow_wildcard_trust, role(assumeRolePolicy=trust)) == []
