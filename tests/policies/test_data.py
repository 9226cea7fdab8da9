"""DynamoDB, SNS, CloudWatch Logs and RDS."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import data
from tests.policies.harness import TAGS, changed, evaluate, res, violations

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1111"
TABLE: dict[str, Any] = {
    "name": "tenant-acme",
    "billingMode": "PAY_PER_REQUEST",
    "hashKey": "pk",
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN},
    "pointInTimeRecovery": {"enabled": True},
}
LOG_GROUP: dict[str, Any] = {
    "name": "/tenants/acme/flow",
    "retentionInDays": 90,
    "kmsKeyId": KEY_ARN,
}
RDS: dict[str, Any] = {
    "engine": "postgres",
    "publiclyAccessible": False,
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
}


def one(type_: str, name: str, inputs: dict[str, Any]) -> Any:
    return res(type_, name, inputs, tags=TAGS, protect=True)


@pytest.mark.parametrize(
    ("policy", "type_", "inputs"),
    [
        (data.dynamodb_table_enforce_kms_encryption, data.TABLE, TABLE),
        (data.dynamodb_table_enable_point_in_time_recovery, data.TABLE, TABLE),
        (
            data.sns_topic_enforce_encryption,
            data.TOPIC,
            {"name": "acme-alarms", "kmsMasterKeyId": KEY_ARN},
        ),
        (data.cloudwatch_log_group_configure_retention, data.LOG_GROUP, LOG_GROUP),
        (data.cloudwatch_log_group_enforce_kms_encryption, data.LOG_GROUP, LOG_GROUP),
        (data.rds_instance_disallow_public_access, data.RDS_INSTANCE, RDS),
        (data.rds_instance_enforce_storage_encryption, data.RDS_INSTANCE, RDS),
    ],
    ids=lambda v: getattr(v, "name", "") if not isinstance(v, str | dict) else "",
)
def test_baselines_pass(policy: Any, type_: str, inputs: dict[str, Any]) -> None:
    assert violations(policy, one(type_, "acme-thing", inputs)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"serverSideEncryption": None}, "is encrypted with an AWS-owned key"),
        ({"serverSideEncryption": {"enabled": False}}, "is encrypted with an AWS-owned key"),
        ({"serverSideEncryption": {"enabled": True}}, "uses the AWS-managed aws/dynamodb key"),
    ],
)
def test_table_encryption(change: dict[str, Any], expected: str) -> None:
    [(path, value)] = change.items()
    [message] = violations(
        data.dynamodb_table_enforce_kms_encryption,
        one(data.TABLE, "acme-table", changed(TABLE, path, value)),
    )
    assert message.startswith(f"Table 'acme-table' {expected}")


@pytest.mark.parametrize("value", [None, {"enabled": False}])
def test_table_pitr(value: Any) -> None:
    table = one(data.TABLE, "acme-table", changed(TABLE, "pointInTimeRecovery", value))
    assert violations(data.dynamodb_table_enable_point_in_time_recovery, table) == [
        "Table 'acme-table' has no point-in-time recovery"
    ]


def test_unencrypted_topic() -> None:
    assert violations(
        data.sns_topic_enforce_encryption, one(data.TOPIC, "acme-topic", {"name": "t"})
    ) == ["Topic 'acme-topic' is not encrypted at rest; set kmsMasterKeyId"]


def test_log_retention() -> None:
    policy = data.cloudwatch_log_group_configure_retention
    forever = one(data.LOG_GROUP, "acme-logs", changed(LOG_GROUP, "retentionInDays", None))
    assert violations(policy, forever) == [
        "LogGroup 'acme-logs' keeps logs forever (no retentionInDays); set a retention"
    ]
    short = one(data.LOG_GROUP, "acme-logs", changed(LOG_GROUP, "retentionInDays", 3))
    assert violations(policy, short) == ["LogGroup 'acme-logs' keeps logs 3 days; the minimum is 7"]
    assert violations(
        policy, one(data.LOG_GROUP, "acme-logs", LOG_GROUP), config={"minimumRetentionDays": 365}
    ) == ["LogGroup 'acme-logs' keeps logs 90 days; the minimum is 365"]


def test_log_group_without_kms() -> None:
    group = one(data.LOG_GROUP, "acme-logs", changed(LOG_GROUP, "kmsKeyId", None))
    assert violations(data.cloudwatch_log_group_enforce_kms_encryption, group) == [
        "LogGroup 'acme-logs' is not encrypted with a customer-managed key; set kmsKeyId"
    ]


def test_public_database() -> None:
    db = one(data.RDS_INSTANCE, "acme-db", changed(RDS, "publiclyAccessible", True))
    assert violations(data.rds_instance_disallow_public_access, db) == [
        "Instance 'acme-db' is publicly accessible"
    ]


def test_database_encryption() -> None:
    policy = data.rds_instance_enforce_storage_encryption
    plain = one(data.RDS_INSTANCE, "acme-db", changed(RDS, "storageEncrypted", False))
    assert violations(policy, plain) == ["Instance 'acme-db' does not encrypt its storage"]
    cluster = one(data.RDS_CLUSTER, "acme-cluster", changed(RDS, "kmsKeyId", None))
    assert violations(policy, cluster) == [
        "Cluster 'acme-cluster' encrypts storage with the AWS-managed aws/rds key, "
        "not the tenant key"
    ]


DATABASES: dict[str, dict[str, Any]] = {
    data.RDS_INSTANCE: {**RDS, "backupRetentionPeriod": 14, "deletionProtection": True},
    data.RDS_CLUSTER: {
        "engine": "aurora-postgresql",
        "storageEncrypted": True,
        "kmsKeyId": KEY_ARN,
        "backupRetentionPeriod": 7,
        "deletionProtection": "true",
    },
}
RDS_POLICIES = [
    data.rds_database_configure_backup_retention,
    data.rds_database_enable_deletion_protection,
    data.rds_instance_disallow_public_access,
    data.rds_instance_enforce_storage_encryption,
]


@pytest.mark.parametrize("type_", DATABASES)
@pytest.mark.parametrize("policy", RDS_POLICIES, ids=lambda p: p.name)
def test_database_baselines_pass(policy: Any, type_: str) -> None:
    assert violations(policy, one(type_, "acme-db", DATABASES[type_])) == []


@pytest.mark.parametrize("type_", DATABASES)
@pytest.mark.parametrize(
    ("policy", "path", "value", "expected"),
    [
        (
            data.rds_database_configure_backup_retention,
            "backupRetentionPeriod",
            None,
            "keeps automated backups 1 day (the default)",
        ),
        (
            data.rds_database_configure_backup_retention,
            "backupRetentionPeriod",
            0,
            "has automated backups turned off",
        ),
        (
            data.rds_database_configure_backup_retention,
            "backupRetentionPeriod",
            3,
            "keeps automated backups 3 days; the minimum is 7",
        ),
        (
            data.rds_database_enable_deletion_protection,
            "deletionProtection",
            None,
            "can be deleted by one API call",
        ),
        (
            data.rds_database_enable_deletion_protection,
            "deletionProtection",
            False,
            "can be deleted by one API call",
        ),
        (data.rds_instance_disallow_public_access, "publiclyAccessible", "true", "is publicly"),
        (data.rds_instance_enforce_storage_encryption, "storageEncrypted", None, "does not"),
    ],
)
def test_database_mutations(policy: Any, type_: str, path: str, value: Any, expected: str) -> None:
    [message] = violations(policy, one(type_, "acme-db", changed(DATABASES[type_], path, value)))
    assert expected in message


def test_read_replicas_are_backed_up_through_their_source() -> None:
    replica = {"replicateSourceDb": "acme-db", "instanceClass": "db.t4g.medium"}
    result = evaluate(
        data.rds_database_configure_backup_retention, one(data.RDS_INSTANCE, "acme-r", replica)
    )
    assert result.findings == ()
    assert len(result.not_applicable) == 1


def test_aurora_cluster_instances_are_not_public() -> None:
    member = {"clusterIdentifier": "acme", "instanceClass": "db.r6g.large"}
    policy = data.rds_instance_disallow_public_access
    assert violations(policy, one(data.RDS_CLUSTER_INSTANCE, "acme-db-1", member)) == []
    public = {**member, "publiclyAccessible": True}
    assert violations(policy, one(data.RDS_CLUSTER_INSTANCE, "acme-db-1", public)) == [
        "ClusterInstance 'acme-db-1' is publicly accessible"
    ]


@pytest.mark.parametrize(
    ("policy", "type_", "inputs", "path"),
    [
        (
            data.dynamodb_table_enforce_kms_encryption,
            data.TABLE,
            TABLE,
            "serverSideEncryption.kmsKeyArn",
        ),
        (data.cloudwatch_log_group_enforce_kms_encryption, data.LOG_GROUP, LOG_GROUP, "kmsKeyId"),
        (data.rds_instance_enforce_storage_encryption, data.RDS_INSTANCE, RDS, "kmsKeyId"),
    ],
)
def test_aws_managed_keys_are_not_customer_keys(
    policy: Any, type_: str, inputs: dict[str, Any], path: str
) -> None:
    managed = changed(inputs, path, "arn:aws:kms:eu-west-1:123456789012:alias/aws/rds")
    assert len(violations(policy, one(type_, "acme-thing", managed))) == 1
