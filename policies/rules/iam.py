"""IAM: no admin grants, no privilege escalation, safe trust, boundaries on every role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from components.storage import ELB_LOG_DELIVERY_ACCOUNTS
from policies.define import Report, resource_policy, within
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.iam_documents import (
    BUCKET_POLICY,
    PERMISSION_DOCUMENT_TYPES,
    RESOURCE_DOCUMENTS,
    InvalidDocumentError,
    Statement,
    arn_account,
    documents_of,
    own_accounts,
    parse_document,
    resource_document,
)
from policies.iam_documents import ROLE as IAM_ROLE
from policies.props import strings, text
from policies.tenancy import operator_account

ROLE = IAM_ROLE
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
USER_POLICIES_EXCLUSIVE = "aws:iam/userPoliciesExclusive:UserPoliciesExclusive"
USER_ATTACHMENTS_EXCLUSIVE = "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
KMS_GRANT = "aws:kms/grant:Grant"
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    POLICY_ATTACHMENT,
    USER_POLICY_ATTACHMENT,
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
_ADMIN_ACTIONS = ("*", "*:*")


def _statements(args: ResourceValidationArgs, report: Report) -> Iterator[tuple[str, Statement]]:
    for where, document in documents_of(args.resource_type, args.props):
        try:
            statements = parse_document(document)
        except InvalidDocumentError as error:
            report(f"has a {where} that {error}")
            continue
        for statement in statements:
            yield where, statement


def _any_resource(resource: str) -> bool:
    """`*`, or an ARN naming every resource of a service (`arn:aws:s3:::*`)."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    return (
        len(parts) == 6 and parts[0] == "arn" and parts[4] in ("", "*") and parts[5] in ("*", "*/*")
    )


def _scope(s: Statement) -> str | None:
    """How a statement reaches every resource, in words; `None` when it names resources."""
    if any(_any_resource(r) for r in s.resources):
        return "on every resource"
    if s.not_resources:
        return f"on every resource except {', '.join(s.not_resources)} (NotResource)"
    return None


def _check_admin_access(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for where, s in _statements(args, report):
        scope = _scope(s)
        if not s.allows or scope is None:
            continue
        if any(a in _ADMIN_ACTIONS for a in s.actions):
            wildcard = " ('*' on '*')" if "*" in s.resources else ""
            report(f"allows every action {scope}{wildcard} in {s.name} of its {where}")
        elif s.not_actions:
            report(
                f"allows everything except {', '.join(s.not_actions)} {scope} in {s.name} "
                f"of its {where}"
            )


iam_policy_disallow_admin_access = resource_policy(
    name="aws-iam-policy-disallow-admin-access",
    description="IAM policies do not allow every action on every resource (also via NotResource).",
    severity=Severity.CRITICAL,
    controls=(cis("1.16"), pci("7.2.1"), hipaa("164.308(a)(4)"), soc2("CC6.3"), iso("A.8.2")),
    remediation="List the actions and the resource ARNs the principal needs.",
    resource_types=PERMISSION_DOCUMENT_TYPES,
    check=_check_admin_access,
    topics=("iam", "least-privilege"),
)


def _check_full_service_access(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for where, s in _statements(args, report):
        scope = _scope(s)
        if not s.allows or scope is None or any(a in _ADMIN_ACTIONS for a in s.actions):
            continue
        services = [a for a in s.actions if re.fullmatch(r"[A-Za-z0-9-]+:\*", a)]
        if services:
            report(
                f"allows every action of {', '.join(services)} {scope} in {s.name} of its {where}"
            )


iam_policy_disallow_full_service_access = resource_policy(
    name="aws-iam-policy-disallow-full-service-access",
    description="IAM policies do not allow every action of a service on every resource.",
    severity=Severity.HIGH,
    controls=(pci("7.2.1"), hipaa("164.308(a)(4)"), soc2("CC6.3"), iso("A.8.2")),
    remediation="Replace 'service:*' on '*' with the actions needed on named resource ARNs.",
    resource_types=PERMISSION_DOCUMENT_TYPES,
    check=_check_full_service_access,
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
        if s.unrestricted_public:
            ignored = s.restriction.ignored
            why = (
                f"; its condition on {', '.join(ignored)} restricts neither the principal nor "
                "the source"
                if ignored
                else ""
            )
            report(f"can be assumed by anyone ('*') per {s.name} of its trust policy{why}")
        provider = s.open_web_identity
        if provider:
            report(
                f"can be assumed by any identity of {provider} per {s.name} of its trust "
                "policy; pin the subject with a condition on its ':sub' key"
            )


iam_role_disallow_wildcard_trust = resource_policy(
    name="aws-iam-role-disallow-wildcard-trust",
    description="IAM roles cannot be assumed by every principal, nor by every identity of a "
    "web identity provider.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the service or account principals that may assume the role; for web "
    "identities (GitHub Actions, EKS) add StringEquals/StringLike on '<provider>:sub' naming "
    "the repository or service account.",
    resource_types=(ROLE,),
    check=_check_wildcard_trust,
    topics=("iam", "trust"),
)


def _provider_props(args: ResourceValidationArgs) -> Any:
    return args.provider.props if args.provider is not None else None


def _trusted_from_outside(s: Statement, own: frozenset[str]) -> list[str]:
    """The principals (or pinned accounts) of another account that a trust statement names."""
    if not s.allows:
        return []
    named = [p for p in s.principals.get("AWS", ()) if (a := arn_account(p)) and a not in own]
    pinned = s.restriction.accounts if s.public_principal else None
    return [*named, *sorted((pinned or frozenset()) - own)]


def _check_external_id(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    statements = _trust_statements(args, report)
    own = own_accounts(args.resource_type, args.props, statements, _provider_props(args))
    for s in statements:
        outside = _trusted_from_outside(s, own)
        if outside and not s.restriction.external_ids:
            report(
                f"trusts {', '.join(outside)} without an sts:ExternalId condition "
                f"in {s.name}; a confused deputy could assume it"
            )


iam_role_enforce_external_id = resource_policy(
    name="aws-iam-role-enforce-external-id",
    description="Roles trusted by other AWS accounts require a non-empty external id.",
    severity=Severity.HIGH,
    controls=(pci("8.2.2"), soc2("CC6.1"), iso("A.5.18")),
    remediation="Add Condition StringEquals sts:ExternalId (a non-empty value agreed with the "
    "other account) to the trust statement.",
    resource_types=(ROLE,),
    check=_check_external_id,
    topics=("iam", "trust"),
)


_NOT_ALLOWED = "only the resource's own account and allowedAccounts may be granted access"
_PRINCIPAL_PROPS = {
    LAMBDA_PERMISSION: ("principal", "invoke the function"),
    KMS_GRANT: ("granteePrincipal", "use the key through a grant"),
}
"""Resources that grant one principal, named by a prop, instead of carrying a document."""


def _allowed_accounts(config: Any) -> set[str]:
    allowed = {str(a) for a in config["allowedAccounts"]}
    operator = operator_account()
    if operator:
        allowed.add(operator)
    return allowed


_LOG_DELIVERY_ACCOUNTS = frozenset(ELB_LOG_DELIVERY_ACCOUNTS.values())


def _aws_log_delivery(resource_type: str, statement: Statement) -> frozenset[str]:
    """The AWS-owned load-balancer log accounts, when the statement is a bucket policy's
    grant of nothing but `s3:PutObject` (the AWS-documented access-log delivery)."""
    if resource_type != BUCKET_POLICY or statement.not_actions:
        return frozenset()
    if {a.lower() for a in statement.actions} != {"s3:putobject"}:
        return frozenset()
    return _LOG_DELIVERY_ACCOUNTS


def _check_untrusted_accounts(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    allowed = _allowed_accounts(config)
    if args.resource_type in _PRINCIPAL_PROPS:
        key, verb = _PRINCIPAL_PROPS[args.resource_type]
        account = arn_account(text(args.props.get(key)))
        own = own_accounts(args.resource_type, args.props, (), _provider_props(args))
        if account and account not in own | allowed:
            report(f"lets account {account} {verb}; {_NOT_ALLOWED}")
        return
    found = resource_document(args.resource_type, args.props)
    if found is None:
        return
    what, document = found
    try:
        statements = parse_document(document)
    except InvalidDocumentError:
        return  # reported by the policy that checks this document for public access
    own = own_accounts(args.resource_type, args.props, statements, _provider_props(args))
    for s in statements:
        with within():
            trusted = own | allowed | _aws_log_delivery(args.resource_type, s)
            outside = [a for a in s.grantee_accounts if a not in trusted]
            if outside:
                accounts = ", ".join(outside)
                report(f"grants account(s) {accounts} in {s.name} of its {what}; {_NOT_ALLOWED}")
            # A service acting for another account's resources (aws:SourceAccount) is judged
            # only against a proven own account: that condition usually names the own one.
            sources = s.restriction.sources if s.allows and own else None
            foreign = sorted((sources or frozenset()) - own - allowed)
            if foreign:
                report(
                    f"lets AWS services act for account(s) {', '.join(foreign)} "
                    f"(aws:SourceAccount / aws:SourceArn) in {s.name} of its {what}; "
                    f"{_NOT_ALLOWED}"
                )


iam_resource_policy_disallow_untrusted_accounts = resource_policy(
    name="aws-iam-resource-policy-disallow-untrusted-accounts",
    description="Resource policies and trust policies grant no AWS account outside the allow-list.",
    severity=Severity.HIGH,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Remove the other account, or add it to allowedAccounts once it is trusted. "
    "A tenant's operator account (operator.account_id of its spec) is allowed for its stack.",
    resource_types=(*RESOURCE_DOCUMENTS, LAMBDA_PERMISSION, KMS_GRANT),
    check=_check_untrusted_accounts,
    config={
        "allowedAccounts": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9]{12}$"},
            "default": [],
            "description": "AWS accounts, besides the resource's own, that resource and trust "
            "policies may grant.",
        }
    },
    topics=("iam", "cross-account"),
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


_GROUPS_OR_ROLES = "grant permissions through groups or roles"


def _check_user_policies(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    props = args.props
    if args.resource_type == USER_POLICY:
        report(f"gives user {text(props.get('user'))!r} an inline policy; {_GROUPS_OR_ROLES}")
    elif args.resource_type == USER_POLICY_ATTACHMENT:
        report(
            f"attaches {text(props.get('policyArn'))} to user {text(props.get('user'))!r}; "
            f"{_GROUPS_OR_ROLES}"
        )
    elif args.resource_type in (USER_POLICIES_EXCLUSIVE, USER_ATTACHMENTS_EXCLUSIVE):
        held = strings(props.get("policyNames")) + strings(props.get("policyArns"))
        if held:
            report(
                f"gives user {text(props.get('userName'))!r} the policies {', '.join(held)}; "
                f"{_GROUPS_OR_ROLES}"
            )
    else:
        users = strings(props.get("users"))
        if users:
            names = ", ".join(repr(u) for u in users)
            report(f"attaches {text(props.get('policyArn'))} to users {names}; {_GROUPS_OR_ROLES}")


iam_user_disallow_policies = resource_policy(
    name="aws-iam-user-disallow-policies",
    description="IAM users hold no policies of their own; permissions come from groups or roles.",
    severity=Severity.MEDIUM,
    controls=(cis("1.15"), pci("7.2.2"), soc2("CC6.3"), iso("A.5.18")),
    remediation="Attach the policy to a group the user belongs to, or to a role the user assumes.",
    resource_types=(
        USER_POLICY,
        USER_POLICY_ATTACHMENT,
        POLICY_ATTACHMENT,
        USER_POLICIES_EXCLUSIVE,
        USER_ATTACHMENTS_EXCLUSIVE,
    ),
    check=_check_user_policies,
    topics=("iam", "least-privilege"),
)
