"""KMS: rotation on, no lockout-safety bypass, no key policy open to everyone."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.iam_documents import KMS_KEY, KMS_KEY_POLICY, InvalidDocumentError, parse_document
from policies.props import as_bool, text

KEY = KMS_KEY
KEY_POLICY = KMS_KEY_POLICY
SYMMETRIC = "SYMMETRIC_DEFAULT"


def customer_key(value: Any) -> bool:
    """Whether a key reference names a customer-managed key, not an AWS-managed `alias/aws/*`."""
    key = text(value).strip()
    return bool(key) and "alias/aws/" not in key


def _check_rotation(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    spec = text(args.props.get("customerMasterKeySpec")) or SYMMETRIC
    if spec != SYMMETRIC:
        args.not_applicable(f"AWS rotates only symmetric keys; this key is {spec}")
    if as_bool(args.props.get("enableKeyRotation")) is not True:
        report("does not rotate its key material; set enableKeyRotation")


kms_key_enable_rotation = resource_policy(
    name="aws-kms-key-enable-rotation",
    description="Symmetric KMS keys rotate their key material yearly.",
    severity=Severity.MEDIUM,
    controls=(cis("3.8"), pci("3.7.4"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set enable_key_rotation=True on the aws.kms.Key.",
    resource_types=(KEY,),
    check=_check_rotation,
    topics=("kms", "encryption"),
)


def _check_lockout_bypass(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("bypassPolicyLockoutSafetyCheck")) is True:
        report("bypasses the policy lockout safety check; the key may become unmanageable")


kms_key_disallow_lockout_bypass = resource_policy(
    name="aws-kms-key-disallow-lockout-bypass",
    description="KMS keys keep the policy lockout safety check.",
    severity=Severity.HIGH,
    controls=(pci("3.6.1"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Remove bypass_policy_lockout_safety_check (or set it to False).",
    resource_types=(KEY, KEY_POLICY),
    check=_check_lockout_bypass,
    topics=("kms",),
)


def _check_wildcard_principal(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    document = args.props.get("policy")
    if not document:
        return  # the default key policy grants the account only
    try:
        statements = parse_document(document)
    except InvalidDocumentError as error:
        report(f"has a key policy that {error}")
        return
    for statement in statements:
        if statement.unrestricted_public:
            report(f"allows everyone ('*') {statement.why_unrestricted()}")


kms_key_disallow_wildcard_principal = resource_policy(
    name="aws-kms-key-disallow-wildcard-principal",
    description="KMS key policies do not allow every principal.",
    severity=Severity.CRITICAL,
    controls=(pci("3.6.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the account root or roles as principals, or restrict with a condition "
    "such as kms:CallerAccount.",
    resource_types=(KEY, KEY_POLICY),
    check=_check_wildcard_principal,
    topics=("kms", "access-control"),
)
