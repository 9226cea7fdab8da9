"""Data and messaging: DynamoDB, SNS, CloudWatch Logs and RDS encryption, retention, backups
and protection."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.iam_documents import LOG_RESOURCE_POLICY, public_document_findings
from policies.props import as_bool, as_int, mapping, text
from policies.rules.kms import customer_key

TABLE = "aws:dynamodb/table:Table"
TOPIC = "aws:sns/topic:Topic"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


def _check_table_kms(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    sse = mapping(args.props.get("serverSideEncryption"))
    if as_bool(sse.get("enabled")) is not True:
        report("is encrypted with an AWS-owned key; enable serverSideEncryption with KMS")
    elif not customer_key(sse.get("kmsKeyArn")):
        report("uses the AWS-managed aws/dynamodb key; set kmsKeyArn to the tenant key")


dynamodb_table_enforce_kms_encryption = resource_policy(
    name="aws-dynamodb-table-enforce-kms-encryption",
    description="DynamoDB tables are encrypted with a customer-managed KMS key.",
    severity=Severity.HIGH,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set server_side_encryption enabled=True and kms_key_arn to the tenant key.",
    resource_types=(TABLE,),
    check=_check_table_kms,
    topics=("database", "encryption"),
)


def _check_table_pitr(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(mapping(args.props.get("pointInTimeRecovery")).get("enabled")) is not True:
        report("has no point-in-time recovery")


dynamodb_table_enable_point_in_time_recovery = resource_policy(
    name="aws-dynamodb-table-enable-point-in-time-recovery",
    description="DynamoDB tables keep point-in-time recovery backups.",
    severity=Severity.MEDIUM,
    controls=(hipaa("164.308(a)(7)(ii)(A)"), soc2("A1.2"), iso("A.8.13")),
    remediation="Set point_in_time_recovery enabled=True.",
    resource_types=(TABLE,),
    check=_check_table_pitr,
    topics=("database", "backup"),
)


def _check_topic_encryption(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not args.props.get("kmsMasterKeyId"):
        report("is not encrypted at rest; set kmsMasterKeyId")


sns_topic_enforce_encryption = resource_policy(
    name="aws-sns-topic-enforce-encryption",
    description="SNS topics are encrypted at rest with KMS.",
    severity=Severity.MEDIUM,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set kms_master_key_id to the tenant key.",
    resource_types=(TOPIC,),
    check=_check_topic_encryption,
    topics=("messaging", "encryption"),
)


def _check_log_retention(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    days = as_int(args.props.get("retentionInDays"))
    minimum = int(config["minimumRetentionDays"])
    if not days:
        report("keeps logs forever (no retentionInDays); set a retention")
    elif days < minimum:
        report(f"keeps logs {days} days; the minimum is {minimum}")


cloudwatch_log_group_configure_retention = resource_policy(
    name="aws-cloudwatch-log-group-configure-retention",
    description="CloudWatch log groups set a retention of at least the configured minimum.",
    severity=Severity.MEDIUM,
    controls=(pci("10.5.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Set retention_in_days (the tenant's retention, at least the minimum).",
    resource_types=(LOG_GROUP,),
    check=_check_log_retention,
    config={
        "minimumRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "default": 7,
            "description": "Fewest days a log group may keep its events.",
        }
    },
    topics=("logging",),
)


def _check_log_kms(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not customer_key(args.props.get("kmsKeyId")):
        report("is not encrypted with a customer-managed key; set kmsKeyId")


cloudwatch_log_group_enforce_kms_encryption = resource_policy(
    name="aws-cloudwatch-log-group-enforce-kms-encryption",
    description="CloudWatch log groups are encrypted with a customer-managed KMS key.",
    severity=Severity.MEDIUM,
    controls=(pci("10.3.2"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set kms_key_id to the tenant key (its policy must allow the logs service).",
    resource_types=(LOG_GROUP,),
    check=_check_log_kms,
    topics=("logging", "encryption"),
)


def _check_log_policy_public(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for finding in public_document_findings(args.resource_type, args.props):
        report(finding)


cloudwatch_log_resource_policy_disallow_public = resource_policy(
    name="aws-cloudwatch-log-resource-policy-disallow-public",
    description="CloudWatch Logs resource policies do not let everyone write or read logs.",
    severity=Severity.CRITICAL,
    controls=(pci("10.3.2"), hipaa("164.312(b)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Name the delivering service and restrict it by aws:SourceArn / "
    "aws:SourceAccount of the resources that write.",
    resource_types=(LOG_RESOURCE_POLICY,),
    check=_check_log_policy_public,
    topics=("logging", "public-access"),
)


def _check_rds_public(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("publiclyAccessible")) is True:
        report("is publicly accessible")


rds_instance_disallow_public_access = resource_policy(
    name="aws-rds-instance-disallow-public-access",
    description="RDS instances, Aurora cluster instances and clusters are not reachable from "
    "the internet.",
    severity=Severity.CRITICAL,
    controls=(cis("2.3.3"), pci("1.4.4"), hipaa("164.312(e)(1)"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Set publicly_accessible=False and reach the database from the tenant VPC.",
    resource_types=(RDS_INSTANCE, RDS_CLUSTER_INSTANCE, RDS_CLUSTER),
    check=_check_rds_public,
    topics=("database", "network"),
)


def _check_rds_encryption(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("storageEncrypted")) is not True:
        report("does not encrypt its storage")
    elif not customer_key(args.props.get("kmsKeyId")):
        report("encrypts storage with the AWS-managed aws/rds key, not the tenant key")


rds_instance_enforce_storage_encryption = resource_policy(
    name="aws-rds-instance-enforce-storage-encryption",
    description="RDS instances and clusters encrypt storage with a customer-managed key.",
    severity=Severity.HIGH,
    controls=(cis("2.3.1"), pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set storage_encrypted=True and kms_key_id to the tenant key.",
    resource_types=(RDS_INSTANCE, RDS_CLUSTER),
    check=_check_rds_encryption,
    topics=("database", "encryption"),
)


def _is_replica(args: ResourceValidationArgs) -> bool:
    key = (
        "replicateSourceDb" if args.resource_type == RDS_INSTANCE else "replicationSourceIdentifier"
    )
    return bool(text(args.props.get(key)))


def _check_backup_retention(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    if _is_replica(args):
        args.not_applicable("a replica is backed up through its source database")
    days = as_int(args.props.get("backupRetentionPeriod"))
    minimum = int(config["minimumRetentionDays"])
    if days is None:
        report(
            f"keeps automated backups 1 day (the default); set backupRetentionPeriod >= {minimum}"
        )
    elif days == 0:
        report("has automated backups turned off (backupRetentionPeriod 0)")
    elif days < minimum:
        report(f"keeps automated backups {days} days; the minimum is {minimum}")


rds_database_configure_backup_retention = resource_policy(
    name="aws-rds-database-configure-backup-retention",
    description="RDS instances and Aurora clusters keep automated backups for the configured days.",
    severity=Severity.MEDIUM,
    controls=(hipaa("164.308(a)(7)(ii)(A)"), pci("12.10.1"), soc2("A1.2"), iso("A.8.13")),
    remediation="Set backup_retention_period to at least the minimum.",
    resource_types=(RDS_INSTANCE, RDS_CLUSTER),
    check=_check_backup_retention,
    config={
        "minimumRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "maximum": 35,
            "default": 7,
            "description": "Fewest days of automated backups a database keeps.",
        }
    },
    topics=("database", "backup"),
)


def _check_deletion_protection(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("deletionProtection")) is not True:
        report("can be deleted by one API call; set deletionProtection")


rds_database_enable_deletion_protection = resource_policy(
    name="aws-rds-database-enable-deletion-protection",
    description="RDS instances and Aurora clusters are protected against deletion.",
    severity=Severity.MEDIUM,
    controls=(hipaa("164.308(a)(7)(ii)(A)"), soc2("A1.2"), iso("A.8.13")),
    remediation="Set deletion_protection=True.",
    resource_types=(RDS_INSTANCE, RDS_CLUSTER),
    check=_check_deletion_protection,
    topics=("database", "backup"),
)
