"""IAM: no admin grants, no privilege escalation, safe trust, boundaries on every role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.iam_documents import (
    PERMISSION_DOCUMENT_TYPES,
    InvalidDocumentError,
    Statement,
    documents_of,
    parse_document,
)
from policies.props import strings

ROLE = "aws:iam/role:Role"
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)

_ACCOUNT_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws[\w-]*:iam::\d{12}:.+)$")


def _statements(args: ResourceValidationArgs, report: Report) -> Iterator[tuple[str, Statement]]:
    for where, document in documents_of(args.resource_type, args.props):
        try:
            for statement in parse_document(document):
                yield where, statement
        except InvalidDocumentError as error:
            report(f"has a {where} that {error}")


def _check_admin_access(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for where, s in _statements(args, report):
        if not s.allows or "*" not in s.resources:
            continue
        if any(a in ("*", "*:*") for a in s.actions):
            report(f"allows every action on every resource ('*' on '*') in {s.name} of its {where}")
        elif s.not_actions:
            report(
                f"allows everything except {', '.join(s.not_actions)} on '*' in {s.name} "
                f"of its {where}"
            )


iam_policy_disallow_admin_access = resource_policy(
    name="aws-iam-policy-disallow-admin-access",
    description="IAM policies do not allow '*' actions on '*' resources.",
    severity=Severity.CRITICAL,
    controls=(cis("1.16"), pci("7.2.1"), hipaa("164.308(a)(4)"), soc2("CC6.3"), iso("A.8.2")),
    remediation="List the actions and the resource ARNs the principal needs.",
    resource_types=PERMISSION_DOCUMENT_TYPES,
    check=_check_admin_access,
    topics=("iam", "least-privilege"),
)

ESCALATION_ACTIONS = [
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:CreateRole",
    "lambda:UpdateFunctionCode",
    "sts:AssumeRole",
]


def _check_escalation(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    for where, s in _statements(args, report):
        if not s.allows:
            continue
        if any(a in ("*", "*:*") for a in s.actions):
            continue  # reported by aws-iam-policy-disallow-admin-access
        granted = [a for a in config["escalationActions"] if s.grants(a)]
        if granted:
            report(
                f"grants privilege-escalation actions {', '.join(granted)} in {s.name} "
                f"of its {where}"
            )
        if s.grants("iam:PassRole") and "*" in s.resources:
            report(f"allows iam:PassRole on any role ('*') in {s.name} of its {where}")


iam_policy_disallow_privilege_escalation = resource_policy(
    name="aws-iam-policy-disallow-privilege-escalation",
    description="IAM policies grant no action that lets a principal raise its own privileges.",
    severity=Severity.HIGH,
    controls=(pci("7.2.2"), hipaa("164.308(a)(4)"), soc2("CC6.3"), iso("A.8.2")),
    remediation="Remove the listed actions; give iam:PassRole only on named role ARNs.",
    resource_types=PERMISSION_DOCUMENT_TYPES,
    check=_check_escalation,
    config={
        "escalationActions": {
            "type": "array",
            "items": {"type": "string"},
            "default": ESCALATION_ACTIONS,
            "description": "Actions that allow privilege escalation.",
        }
    },
    topics=("iam", "least-privilege"),
)


def _trust_statements(args: ResourceValidationArgs, report: Report) -> list[Statement]:
    document = args.props.get("assumeRolePolicy")
    if not document:
        report("has no trust policy")
        return []
    try:
        return parse_document(document)
    except InvalidDocumentError as error:
        report(f"has a trust policy that {error}")
        return []


def _check_wildcard_trust(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for s in _trust_statements(args, report):
        if s.allows and s.public_principal and not s.conditions:
            report(f"can be assumed by anyone ('*') per {s.name} of its trust policy")


iam_role_disallow_wildcard_trust = resource_policy(
    name="aws-iam-role-disallow-wildcard-trust",
    description="IAM roles cannot be assumed by every principal.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the service or account principals that may assume the role.",
    resource_types=(ROLE,),
    check=_check_wildcard_trust,
    topics=("iam", "trust"),
)


def _check_external_id(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for s in _trust_statements(args, report):
        accounts = [p for p in s.principals.get("AWS", ()) if _ACCOUNT_PRINCIPAL.match(p)]
        if not s.allows or not accounts:
            continue
        keys = {key for clause in s.conditions.values() for key in dict(clause)}
        if not keys & {"sts:ExternalId", "aws:PrincipalOrgID", "aws:PrincipalArn"}:
            report(
                f"trusts {', '.join(accounts)} without an sts:ExternalId condition "
                f"in {s.name}; a confused deputy could assume it"
            )


iam_role_enforce_external_id = resource_policy(
    name="aws-iam-role-enforce-external-id",
    description="Roles trusted by other AWS accounts require an external id.",
    severity=Severity.HIGH,
    controls=(pci("8.2.2"), soc2("CC6.1"), iso("A.5.18")),
    remediation="Add Condition StringEquals sts:ExternalId to the trust statement.",
    resource_types=(ROLE,),
    check=_check_external_id,
    topics=("iam", "trust"),
)


def _check_admin_attachment(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    denied = {str(name) for name in config["deniedPolicies"]}
    arns = strings(args.props.get("policyArn")) + strings(args.props.get("managedPolicyArns"))
    for arn in arns:
        if arn.rsplit("/", 1)[-1] in denied and ":aws:policy/" in arn:
            report(f"attaches the AWS managed policy {arn}")


iam_role_disallow_admin_attachment = resource_policy(
    name="aws-iam-role-disallow-admin-attachment",
    description="No role, user or group gets AdministratorAccess or similar managed policies.",
    severity=Severity.CRITICAL,
    controls=(cis("1.16"), pci("7.2.1"), hipaa("164.308(a)(4)"), soc2("CC6.3"), iso("A.8.2")),
    remediation="Attach a least-privilege customer-managed policy instead.",
    resource_types=(*ATTACHMENT_TYPES, ROLE),
    check=_check_admin_attachment,
    config={
        "deniedPolicies": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["AdministratorAccess", "IAMFullAccess", "PowerUserAccess"],
            "description": "AWS managed policy names that must not be attached.",
        }
    },
    topics=("iam", "least-privilege"),
)


def _check_boundary(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not args.props.get("permissionsBoundary"):
        report("has no permissions boundary")


iam_role_missing_permissions_boundary = resource_policy(
    name="aws-iam-role-missing-permissions-boundary",
    description="Every IAM role has a permissions boundary.",
    severity=Severity.HIGH,
    controls=(pci("7.2.2"), soc2("CC6.3"), iso("A.8.2")),
    remediation="Set permissions_boundary to the tenant's boundary policy ARN.",
    resource_types=(ROLE,),
    check=_check_boundary,
    topics=("iam", "least-privilege"),
)
