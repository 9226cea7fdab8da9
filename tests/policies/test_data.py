"""DynamoDB, SNS, CloudWatch Logs and RDS."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import data
from tests.policies.harness import TAGS, changed, res, violations

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
