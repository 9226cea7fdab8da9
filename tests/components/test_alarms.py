"""Alarms: an encrypted topic that reaches people, alarms with actions, budget, dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.components.builders import only, plan_of

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_topic_is_encrypted_and_every_contact_is_subscribed() -> None:
    plan = plan_of(alarms={"contacts": ["ops@testco.example", "cto@testco.example"]})
    topic = only(plan, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == only(plan, "aws:kms/key:Key").outputs["arn"]
    subs = plan.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subs} == {
        ("email", "ops@testco.example"),
        ("email", "cto@testco.example"),
    }
    assert all(s.inputs["topic"] == topic.outputs["arn"] for s in subs)


def test_cpu_capacity_status_and_quota_alarms_all_notify_the_topic() -> None:
    plan = plan_of(alarms={"cpu_high_percent": 75})
    topic_arn = only(plan, "aws:sns/topic:Topic").outputs["arn"]
    alarms = {a.inputs["name"].removeprefix("tenant-testco-"): a for a in plan.by_type(ALARM)}
    assert set(alarms) == {
        "cpu-high",
        "status-check",
        "capacity-ceiling",
        "capacity-low",
        "storage-quota",
    }
    for alarm in alarms.values():
        assert alarm.inputs["alarmActions"] == [topic_arn]
    assert alarms["cpu-high"].inputs["threshold"] == 75
    group = only(plan, "aws:autoscaling/group:Group").outputs["name"]
    assert alarms["cpu-high"].inputs["dimensions"] == {"AutoScalingGroupName": group}
    assert alarms["capacity-low"].inputs["threshold"] == 2  # the pro plan's minimum


def test_storage_alarm_sums_every_bucket_against_the_quota() -> None:
    plan = plan_of(
        storage={"buckets": [{"role": "data"}, {"role": "media"}], "quota_gb": 200},
        alarms={"storage_quota_percent": 80},
    )
    alarm = next(a for a in plan.by_type(ALARM) if a.inputs["name"].endswith("storage-quota"))
    assert alarm.inputs["threshold"] == 200 * 1024**3 * 0.8
    queries = alarm.inputs["metricQueries"]
    measured = {q["metric"]["dimensions"]["BucketName"] for q in queries if "metric" in q}
    data_buckets = {
        b.outputs["bucket"]
        for b in plan.by_type("aws:s3/bucket:Bucket")
        if b.inputs["tags"]["purpose"] != "access-logs"
    }
    assert measured == data_buckets
    total = next(q for q in queries if q["id"] == "total")
    assert total["returnData"] is True and total["expression"].count("FILL(") == 2


@pytest.mark.parametrize(("plan", "minutes"), [("free", 5), ("starter", 10), ("pro", 2)])
def test_the_capacity_alarm_pages_within_the_plan_s_error_budget(plan: str, minutes: int) -> None:
    overrides: dict[str, Any] = {"plan": plan}
    if plan != "pro":
        overrides.update(compute={"instance_type": "t3.micro"}, network={"nat": "none"})
    alarm = next(
        a for a in plan_of(**overrides).by_type(ALARM) if a.inputs["name"].endswith("capacity-low")
    )
    assert (alarm.inputs["period"], alarm.inputs["evaluationPeriods"]) == (60, minutes)


def test_suspended_tenant_has_no_low_capacity_alarm() -> None:
    names = {a.inputs["name"] for a in plan_of(suspended=True).by_type(ALARM)}
    assert "tenant-testco-capacity-low" not in names
    assert "tenant-testco-capacity-ceiling" in names


def test_monthly_budget_filters_on_the_tenant_tag_and_notifies_the_topic() -> None:
    plan = plan_of(alarms={"budget_usd": "1200"})
    budget = only(plan, "aws:budgets/budget:Budget")
    assert budget.inputs["timeUnit"] == "MONTHLY"
    assert budget.inputs["limitAmount"] == "1200"
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": ["user:tenant$testco"]}
    ]
    topic_arn = only(plan, "aws:sns/topic:Topic").outputs["arn"]
    assert all(n["subscriberSnsTopicArns"] == [topic_arn] for n in budget.inputs["notifications"])


def test_dashboard_shows_the_group_and_the_buckets() -> None:
    plan = plan_of()
    body = json.loads(only(plan, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    group = only(plan, "aws:autoscaling/group:Group").outputs["name"]
    assert any(group in json.dumps(w) for w in body["widgets"])
    assert plan.stack_outputs["dashboard_name"] == "tenant-testco"
