"""CloudTrail: every region, logging on, tamper-evident log files, encrypted with KMS."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.props import as_bool
from policies.rules.kms import customer_key

TRAIL = "aws:cloudtrail/trail:Trail"


def _check_multi_region(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("isMultiRegionTrail")) is not True:
        report("records one region only; set isMultiRegionTrail")


cloudtrail_trail_enable_multi_region = resource_policy(
    name="aws-cloudtrail-trail-enable-multi-region",
    description="CloudTrail trails record API calls in every region.",
    severity=Severity.HIGH,
    controls=(cis("3.1"), pci("10.2.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Set is_multi_region_trail=True.",
    resource_types=(TRAIL,),
    check=_check_multi_region,
    topics=("logging", "audit"),
)


def _check_logging(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("enableLogging")) is False:
        report("has logging turned off (enableLogging false)")


cloudtrail_trail_enable_logging = resource_policy(
    name="aws-cloudtrail-trail-enable-logging",
    description="CloudTrail trails keep logging.",
    severity=Severity.HIGH,
    controls=(cis("3.1"), pci("10.2.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Remove enable_logging=False.",
    resource_types=(TRAIL,),
    check=_check_logging,
    topics=("logging", "audit"),
)


def _check_log_file_validation(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("enableLogFileValidation")) is not True:
        report("does not validate its log files; set enableLogFileValidation")


cloudtrail_trail_enable_log_file_validation = resource_policy(
    name="aws-cloudtrail-trail-enable-log-file-validation",
    description="CloudTrail trails write digest files that prove logs were not altered.",
    severity=Severity.MEDIUM,
    controls=(cis("3.2"), pci("10.3.4"), hipaa("164.312(c)(1)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Set enable_log_file_validation=True.",
    resource_types=(TRAIL,),
    check=_check_log_file_validation,
    topics=("logging", "audit"),
)


def _check_trail_kms(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not customer_key(args.props.get("kmsKeyId")):
        report("does not encrypt its log files with a customer-managed key; set kmsKeyId")


cloudtrail_trail_enforce_kms_encryption = resource_policy(
    name="aws-cloudtrail-trail-enforce-kms-encryption",
    description="CloudTrail log files are encrypted with a customer-managed KMS key.",
    severity=Severity.MEDIUM,
    controls=(cis("3.5"), pci("10.3.2"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set kms_key_id to a key whose policy lets CloudTrail encrypt.",
    resource_types=(TRAIL,),
    check=_check_trail_kms,
    topics=("logging", "encryption"),
)
