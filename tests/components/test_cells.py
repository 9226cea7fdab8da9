"""The bundle in a cell: its provider assumes the cell's role, and resource policies name the
tenant's own sources (`aws:SourceArn`), because a pooled account holds many tenants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from planner.model import TenantPlan
from planner.program import plan_spec
from tests.components.builders import document, make_spec, only, plan_of

CELL = {
    "name": "eu-pool-1",
    "account_id": "310000000001",
    "role_arn": "arn:aws:iam::310000000001:role/tenants-cell",
    "external_id": "tenants-control-plane",
}


@pytest.fixture(scope="module")
def placed() -> TenantPlan:
    return plan_of(
        plan="pro", cell=CELL, storage={"buckets": [{"role": "data"}, {"role": "media"}]}
    )


def _assume_roles(plan: TenantPlan) -> list[dict[str, Any]]:
    raw = only(plan, "pulumi:providers:aws").inputs.get("assumeRoles")
    roles: list[dict[str, Any]] = json.loads(raw) if isinstance(raw, str) else (raw or [])
    return roles


def test_the_provider_assumes_the_cells_role_with_a_session_naming_the_tenant(
    placed: TenantPlan,
) -> None:
    assert _assume_roles(placed) == [
        {
            "roleArn": CELL["role_arn"],
            "externalId": CELL["external_id"],
            "sessionName": "tenants-testco-manual",
        }
    ]
    # Resources are in the cell's account, not the planner's.
    key = only(placed, "aws:kms/key:Key")
    assert key.outputs["arn"].startswith("arn:aws:kms:eu-west-1:310000000001:key/")


def test_the_session_names_the_job_the_control_plane_runs() -> None:
    spec = make_spec(cell=CELL)

    plan = plan_spec(spec, role_session_name="tenants-testco-job-17")

    assert _assume_roles(plan)[0]["sessionName"] == "tenants-testco-job-17"


def test_an_unplaced_tenant_uses_the_ambient_credentials() -> None:
    assert _assume_roles(plan_of(plan="free")) == []


def _service_allows(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and "Service" in (s.get("Principal") or {})
    ]


def _source_arns(statement: dict[str, Any]) -> list[str]:
    condition = statement.get("Condition", {})
    found: list[str] = []
    for operator in ("ArnEquals", "ArnLike"):
        value = condition.get(operator, {}).get("aws:SourceArn")
        found += [value] if isinstance(value, str) else list(value or [])
    return found


def test_access_log_delivery_names_the_tenants_source_buckets(placed: TenantPlan) -> None:
    log_policy = next(
        r for r in placed.by_type("aws:s3/bucketPolicy:BucketPolicy") if "access-logs" in r.name
    )
    [statement] = _service_allows(document(log_policy))
    buckets = sorted(
        r.outputs["arn"]
        for r in placed.by_type("aws:s3/bucket:Bucket")
        if "access-logs" not in r.name
    )

    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "310000000001"}
    assert sorted(_source_arns(statement)) == buckets
    assert len(buckets) == 2


def test_the_alarm_topic_names_each_alarm_and_the_budget(placed: TenantPlan) -> None:
    [statement] = _service_allows(document(only(placed, "aws:sns/topicPolicy:TopicPolicy")))
    alarms = sorted(
        r.outputs["arn"] for r in placed.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    )

    assert sorted(_source_arns(statement)) == sorted(
        [*alarms, "arn:aws:budgets::310000000001:budget/tenant-testco-monthly"]
    )
    assert all(":alarm:tenant-testco-" in arn for arn in alarms)


def test_the_key_grants_notification_services_only_for_the_tenants_topic(
    placed: TenantPlan,
) -> None:
    key_policy = json.loads(only(placed, "aws:kms/key:Key").inputs["policy"])
    notifications = next(
        s for s in key_policy["Statement"] if s["Sid"] == "AlarmAndBudgetNotifications"
    )

    assert notifications["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "310000000001",
        "kms:EncryptionContext:aws:sns:topicArn": (
            "arn:aws:sns:eu-west-1:310000000001:tenant-testco-alarms"
        ),
    }
    assert _source_arns(notifications) == [
        "arn:aws:cloudwatch:eu-west-1:310000000001:alarm:tenant-testco-*",
        "arn:aws:budgets::310000000001:budget/tenant-testco-monthly",
    ]


def test_the_flow_log_role_trusts_only_flow_logs_of_the_cell_account_and_region(
    placed: TenantPlan,
) -> None:
    role = next(r for r in placed.by_type("aws:iam/role:Role") if "flow-logs" in r.name)
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]

    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "310000000001"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:eu-west-1:310000000001:vpc-flow-log/*"},
    }


@pytest.mark.parametrize("plan", ["free", "starter", "enterprise"])
def test_every_service_grant_with_an_account_condition_also_names_a_source(plan: str) -> None:
    planned = plan_spec(make_spec(plan=plan, cell=CELL))
    documents = [
        json.loads(r.inputs[key])
        for r in planned.resources
        for key in ("policy", "assumeRolePolicy")
        if isinstance(r.inputs.get(key), str)
    ]

    checked = 0
    for policy in documents:
        for statement in _service_allows(policy):
            equals = statement.get("Condition", {}).get("StringEquals", {})
            if "aws:SourceAccount" in equals:
                checked += 1
                assert _source_arns(statement), f"statement names only the account: {statement}"
    assert checked >= 3
