"""SNS and SQS: topic and queue policies open to no one, queues encrypted at rest."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import hipaa, iso, pci, soc2
from policies.iam_documents import (
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
    public_document_findings,
)
from policies.props import as_bool, text
from policies.rules.kms import customer_key


def check_public_document(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for finding in public_document_findings(args.resource_type, args.props):
        report(finding)


sns_topic_disallow_public_policy = resource_policy(
    name="aws-sns-topic-disallow-public-policy",
    description="SNS topic policies do not let everyone publish or subscribe.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the principals, or restrict statements with Principal '*' by "
    "aws:SourceArn / aws:SourceAccount of the resources that publish.",
    resource_types=(SNS_TOPIC, SNS_TOPIC_POLICY),
    check=check_public_document,
    topics=("messaging", "public-access"),
)

sqs_queue_disallow_public_policy = resource_policy(
    name="aws-sqs-queue-disallow-public-policy",
    description="SQS queue policies do not let everyone send or receive.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the principals, or restrict statements with Principal '*' by "
    "aws:SourceArn / aws:SourceAccount of the resources that send.",
    resource_types=(SQS_QUEUE, SQS_QUEUE_POLICY),
    check=check_public_document,
    topics=("messaging", "public-access"),
)


def _check_queue_encryption(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    key = text(args.props.get("kmsMasterKeyId"))
    customer = bool(config["requireCustomerKey"])
    if key:
        if customer and not customer_key(key):
            report(f"is encrypted with the AWS-managed key {key}, not a customer-managed key")
        return
    managed = as_bool(args.props.get("sqsManagedSseEnabled"))
    if managed is False:
        report("is not encrypted at rest; set kmsMasterKeyId (or sqsManagedSseEnabled)")
    elif customer:
        report("is encrypted with an SQS-owned key (SSE-SQS); set kmsMasterKeyId")


sqs_queue_enforce_encryption = resource_policy(
    name="aws-sqs-queue-enforce-encryption",
    description="SQS queues are encrypted at rest.",
    severity=Severity.MEDIUM,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set kms_master_key_id to the tenant key (or keep sqs_managed_sse_enabled on).",
    resource_types=(SQS_QUEUE,),
    check=_check_queue_encryption,
    config={
        "requireCustomerKey": {
            "type": "boolean",
            "default": False,
            "description": "Require a customer-managed KMS key (not SSE-SQS or alias/aws/sqs).",
        }
    },
    topics=("messaging", "encryption"),
)
