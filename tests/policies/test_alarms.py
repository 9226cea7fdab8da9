"""Alarm actions, and CPU and capacity alarms for every Auto Scaling group."""

from __future__ import annotations

from typing import Any

from policies.rules import alarms
from policies.rules.compute import AUTOSCALING_GROUP
from tests.policies.harness import TAGS, res, violations

TOPIC = "arn:aws:sns:eu-west-1:123456789012:acme-alarms"


def group() -> Any:
    return res(
        AUTOSCALING_GROUP,
        "acme-asg",
        {"minSize": 2, "maxSize": 6},
        outputs={"name": "tenant-acme-123"},
    )


def alarm(name: str, metric: str, **extra: Any) -> Any:
    inputs = {
        "metricName": metric,
        "namespace": "AWS/EC2",
        "alarmActions": [TOPIC],
        "dimensions": {"AutoScalingGroupName": "tenant-acme-123"},
        **extra,
    }
    return res(alarms.METRIC_ALARM, name, inputs, tags=TAGS)


def test_alarm_actions() -> None:
    policy = alarms.cloudwatch_metric_alarm_missing_actions
    assert violations(policy, alarm("cpu", "CPUUtilization")) == []
    assert violations(policy, alarm("cpu", "CPUUtilization", alarmActions=[])) == [
        "MetricAlarm 'cpu' has no alarm actions; nobody is told when it fires"
    ]
    assert violations(policy, alarm("cpu", "CPUUtilization", actionsEnabled=False)) == [
        "MetricAlarm 'cpu' has its actions disabled"
    ]


def test_group_with_cpu_and_capacity_alarms_passes() -> None:
    policy = alarms.autoscaling_group_missing_alarms
    watched = (group(), alarm("cpu", "CPUUtilization"), alarm("cap", "GroupInServiceInstances"))
    assert violations(policy, *watched) == []


def test_group_without_alarms() -> None:
    assert violations(alarms.autoscaling_group_missing_alarms, group()) == [
        "Group 'acme-asg' has no CPUUtilization alarm",
        "Group 'acme-asg' has no capacity alarm (a Group* metric such as GroupInServiceInstances)",
    ]


def test_alarm_on_another_group_does_not_count() -> None:
    other = {"AutoScalingGroupName": "someone-else"}
    messages = violations(
        alarms.autoscaling_group_missing_alarms,
        group(),
        alarm("cpu", "CPUUtilization", dimensions=other),
        alarm("cap", "GroupInServiceInstances"),
    )
    assert messages == ["Group 'acme-asg' has no CPUUtilization alarm"]


def test_metric_math_alarm_counts() -> None:
    query = {
        "id": "m1",
        "returnData": True,
        "metric": {
            "metricName": "CPUUtilization",
            "namespace": "AWS/EC2",
            "period": 60,
            "stat": "Average",
            "dimensions": {"AutoScalingGroupName": "tenant-acme-123"},
        },
    }
    math = res(alarms.METRIC_ALARM, "cpu-math", {"alarmActions": [TOPIC], "metricQueries": [query]})
    messages = violations(
        alarms.autoscaling_group_missing_alarms,
        group(),
        math,
        alarm("cap", "GroupInServiceInstances"),
    )
    assert messages == []
