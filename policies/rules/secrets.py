"""Secrets Manager: customer-managed keys, rotation, no public secret policy."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.define import (
    Report,
    StackReport,
    linked,
    of_type,
    resource_policy,
    stack_policy,
    within,
)
from policies.frameworks import hipaa, iso, pci, soc2
from policies.iam_documents import SECRET, SECRET_POLICY
from policies.props import as_bool, as_int, mapping, text
from policies.rules.kms import customer_key
from policies.rules.messaging import check_public_document

ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"


def _check_customer_key(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not customer_key(args.props.get("kmsKeyId")):
        report("is encrypted with the AWS-managed aws/secretsmanager key; set kmsKeyId")


secretsmanager_secret_enforce_kms_encryption = resource_policy(
    name="aws-secretsmanager-secret-enforce-kms-encryption",
    description="Secrets are encrypted with a customer-managed KMS key.",
    severity=Severity.MEDIUM,
    controls=(pci("3.6.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set kms_key_id to the tenant key.",
    resource_types=(SECRET,),
    check=_check_customer_key,
    topics=("secrets", "encryption"),
)

secretsmanager_secret_disallow_public_policy = resource_policy(
    name="aws-secretsmanager-secret-disallow-public-policy",
    description="Secret policies do not let everyone read the secret.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the principals that read the secret; keep block_public_policy on.",
    resource_types=(SECRET, SECRET_POLICY),
    check=check_public_document,
    topics=("secrets", "public-access"),
)


def _rotation_days(rotation: PolicyResource) -> int | None:
    rules = mapping(rotation.props.get("rotationRules"))
    return as_int(rules.get("automaticallyAfterDays"))


def _rotation_problem(rotation: PolicyResource, maximum: int) -> str | None:
    if as_bool(rotation.props.get("rotationEnabled")) is False:
        return "has its rotation turned off"
    if text(mapping(rotation.props.get("rotationRules")).get("scheduleExpression")):
        return None
    days = _rotation_days(rotation)
    if days is None:
        return "has a rotation without a schedule"
    if days > maximum:
        return f"rotates every {days} days; the maximum is {maximum}"
    return None


def _check_rotation(args: StackValidationArgs, report: StackReport, config: Any) -> None:
    maximum = int(config["maximumRotationDays"])
    rotations = of_type(args, ROTATION)
    for secret in of_type(args, SECRET):
        with within():
            own = [r for r in rotations if linked(r, secret, "secretId")]
            if not own:
                report(secret, "is never rotated (no aws.secretsmanager.SecretRotation)")
            for rotation in own:
                problem = _rotation_problem(rotation, maximum)
                if problem:
                    report(secret, problem)


secretsmanager_secret_missing_rotation = stack_policy(
    name="aws-secretsmanager-secret-missing-rotation",
    description="Secrets rotate automatically within the configured number of days.",
    severity=Severity.MEDIUM,
    controls=(pci("8.3.9"), hipaa("164.308(a)(5)(ii)(D)"), soc2("CC6.1"), iso("A.5.17")),
    remediation="Add an aws.secretsmanager.SecretRotation with a rotation Lambda and "
    "rotation_rules.automatically_after_days at most the maximum.",
    resource_types=(SECRET, ROTATION),
    check=_check_rotation,
    # Rotating a secret needs a rotation function the application supports: advice first.
    enforcement=EnforcementLevel.ADVISORY,
    config={
        "maximumRotationDays": {
            "type": "integer",
            "minimum": 1,
            "default": 90,
            "description": "Most days between two rotations of a secret.",
        }
    },
    topics=("secrets",),
)
