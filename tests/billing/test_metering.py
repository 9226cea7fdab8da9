"""Metering against moto with known seeded usage (and the alarm history, which moto does not
serve, through botocore's Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from components.names import alarm_name
from control_plane.billing.metering import (
    MeteringWindow,
    MeterReading,
    TenantResources,
    UsageMeter,
    alarm_time,
    discover_resources,
)

REGION = "eu-west-1"
NOV = MeteringWindow(datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC))
OCT = MeteringWindow(datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 11, 1, tzinfo=UTC))
"""Storage tests use a month that ends before today: moto adds a datapoint of each real
bucket's current size at the current time, which would blend into a seeded day."""
GIB = 2**30


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "autoscaling": boto3.client("autoscaling", region_name=REGION),
            "s3": boto3.client("s3", region_name=REGION),
            "cloudwatch": boto3.client("cloudwatch", region_name=REGION),
        }


def _tags(tenant: str) -> list[dict[str, str]]:
    return [{"Key": "tenant", "Value": tenant}, {"Key": "managed-by", "Value": "tenants-platform"}]


def _bundle(aws: dict[str, Any], tenant: str, *, with_alarm: bool = True) -> None:
    """The parts of a tenant bundle the meters read: a group, two buckets, an alarm."""
    aws["autoscaling"].create_launch_configuration(
        LaunchConfigurationName=f"{tenant}-lc",
        ImageId="ami-0abcdef1234567890",
        InstanceType="t3.small",
    )
    aws["autoscaling"].create_auto_scaling_group(
        AutoScalingGroupName=f"{tenant}-workers-a1b2",
        LaunchConfigurationName=f"{tenant}-lc",
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{**t, "PropagateAtLaunch": True} for t in _tags(tenant)],
    )
    for role in ("data", "uploads"):
        bucket = f"{tenant}-{role}-7f3e"
        aws["s3"].create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        aws["s3"].put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tags(tenant)})
    if not with_alarm:
        return
    aws["cloudwatch"].put_metric_alarm(
        AlarmName=alarm_name(tenant, "cpu-high"),
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=2,
        Threshold=85.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=_tags(tenant),
    )


def _seed_instances(
    cloudwatch: Any,
    group: str,
    start: datetime,
    counts: list[float | None],
    step: timedelta = timedelta(hours=1),
) -> None:
    """In-service instance counts, one per `step` from `start` (None: no datapoint)."""
    data = [
        {
            "MetricName": "GroupInServiceInstances",
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}],
            "Timestamp": start + step * i,
            "Value": count,
        }
        for i, count in enumerate(counts)
        if count is not None
    ]
    for i in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/AutoScaling", MetricData=data[i : i + 500])


def _seed_bucket(
    cloudwatch: Any, bucket: str, storage_type: str, start: datetime, sizes: list[int]
) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/S3",
        MetricData=[
            {
                "MetricName": "BucketSizeBytes",
                "Dimensions": [
                    {"Name": "BucketName", "Value": bucket},
                    {"Name": "StorageType", "Value": storage_type},
                ],
                "Timestamp": start + timedelta(days=i),
                "Value": size,
            }
            for i, size in enumerate(sizes)
        ],
    )


def test_discovery_finds_only_the_tenants_tagged_resources(aws: dict[str, Any]) -> None:
    _bundle(aws, "acme")
    _bundle(aws, "acme2")
    aws["s3"].create_bucket(
        Bucket="acme-untagged-1", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    resources = discover_resources(
        "acme", autoscaling=aws["autoscaling"], s3=aws["s3"], cloudwatch=aws["cloudwatch"]
    )
    assert resources == TenantResources(
        tenant_id="acme",
        autoscaling_groups=("acme-workers-a1b2",),
        buckets=("acme-data-7f3e", "acme-uploads-7f3e"),
        alarms=(alarm_name("acme", "cpu-high"),),
    )


def test_instance_hours_sum_hourly_in_service_instances(aws: dict[str, Any]) -> None:
    _bundle(aws, "acme")
    cloudwatch = aws["cloudwatch"]
    # 10 days at 2 instances, 5 days at 4, the rest of November at 1; October is outside.
    counts = [2.0] * 240 + [4.0] * 120 + [1.0] * (720 - 360)
    _seed_instances(cloudwatch, "acme-workers-a1b2", NOV.start, counts)
    _seed_instances(cloudwatch, "acme-workers-a1b2", NOV.start - timedelta(days=2), [9.0] * 48)
    meter = UsageMeter(cloudwatch)
    assert meter.instance_hours(["acme-workers-a1b2"], NOV) == Decimal(480 + 480 + 360)
    first_week = MeteringWindow(NOV.start, NOV.start + timedelta(days=7))
    assert meter.instance_hours(["acme-workers-a1b2"], first_week) == Decimal(2 * 168)


def test_storage_gb_days_add_every_bucket_and_storage_class(aws: dict[str, Any]) -> None:
    _bundle(aws, "acme")
    cloudwatch = aws["cloudwatch"]
    _seed_bucket(cloudwatch, "acme-data-7f3e", "StandardStorage", OCT.start, [100 * GIB] * 31)
    _seed_bucket(cloudwatch, "acme-data-7f3e", "StandardIAStorage", OCT.start, [GIB // 2] * 31)
    _seed_bucket(cloudwatch, "acme-uploads-7f3e", "StandardStorage", OCT.start, [10 * GIB] * 15)
    _seed_bucket(cloudwatch, "acme-uploads-7f3e", "StandardStorage", OCT.end, [99 * GIB] * 3)
    meter = UsageMeter(cloudwatch)
    buckets = ["acme-data-7f3e", "acme-uploads-7f3e"]
    assert meter.storage_gb_days(buckets, OCT) == Decimal("3100") + Decimal("15.5") + 150


def test_a_full_reading_of_a_tenant_without_alarms(aws: dict[str, Any]) -> None:
    _bundle(aws, "acme")
    cloudwatch = aws["cloudwatch"]
    _seed_instances(cloudwatch, "acme-workers-a1b2", OCT.start, [3.0] * 24)
    _seed_bucket(cloudwatch, "acme-data-7f3e", "StandardStorage", OCT.start, [5 * GIB] * 2)
    resources = TenantResources(
        tenant_id="acme", autoscaling_groups=("acme-workers-a1b2",), buckets=("acme-data-7f3e",)
    )
    reading = UsageMeter(cloudwatch).measure(resources, OCT)
    # Availability: 31 days measured; the 24 hourly datapoints each cover one five-minute
    # interval, the intervals without a datapoint count as unavailable.
    assert reading == MeterReading(
        instance_hours=Decimal(72),
        storage_gb_days=Decimal(10),
        measured_minutes=Decimal(31 * 24 * 60),
        available_minutes=Decimal(24 * 5),
    )


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 11, day, hour, tzinfo=UTC)


def test_alarm_time_counts_only_alarm_state_inside_the_window() -> None:
    window = MeteringWindow(_at(1), _at(11))
    transitions = [
        (_at(2, 6), "OK"),  # in ALARM since before the window: 30 h
        (_at(3), "ALARM"),
        (_at(3, 4), "INSUFFICIENT_DATA"),  # 4 h
        (_at(10, 20), "ALARM"),  # runs to the window's end: 4 h
    ]
    assert alarm_time("ALARM", transitions, window) == timedelta(hours=38)
    assert alarm_time("OK", [], window) == timedelta(0)
    assert alarm_time("ALARM", [], window) == timedelta(days=10)


def _history_item(alarm: str, at: datetime, old: str, new: str) -> dict[str, Any]:
    data = {"version": "1.0", "oldState": {"stateValue": old}, "newState": {"stateValue": new}}
    return {
        "AlarmName": alarm,
        "AlarmType": "MetricAlarm",
        "Timestamp": at,
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old} to {new}",
        "HistoryData": json.dumps(data),
    }


def test_alarm_hours_from_the_alarm_history() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    window = MeteringWindow(_at(1), _at(11))
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "describe_alarm_history",
            {
                "AlarmHistoryItems": [
                    _history_item("acme-cpu", _at(2), "OK", "ALARM"),
                    _history_item("acme-cpu", _at(2, 5), "ALARM", "OK"),
                    _history_item("acme-cpu", _at(12), "OK", "ALARM"),
                ]
            },
            {
                "AlarmName": "acme-cpu",
                "HistoryItemType": "StateUpdate",
                "StartDate": window.start,
                "EndDate": ANY,
                "ScanBy": "TimestampAscending",
            },
        )
        stub.add_response("describe_alarm_history", {"AlarmHistoryItems": []})
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": [{"AlarmName": "acme-quota", "StateValue": "ALARM"}]},
            {"AlarmNames": ["acme-quota"]},
        )
        hours = UsageMeter(cloudwatch).alarm_hours(["acme-cpu", "acme-quota"], window)
        stub.assert_no_pending_responses()
    assert hours == Decimal(5 + 240)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            datetime(2024, 11, 1),
            datetime(2024, 12, 1, tzinfo=UTC),
            "start 2024-11-01 00:00:00 is naive",
        ),
        (_at(5), _at(5), "is not after its start"),
    ],
)
def test_bad_windows_are_refused(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MeteringWindow(start, end)


def test_long_windows_are_read_in_chunks_the_api_accepts() -> None:
    year = MeteringWindow(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    chunks = list(year.chunks(timedelta(hours=1)))
    assert chunks[0] == (year.start, year.start + timedelta(hours=1440))
    assert chunks[-1][1] == year.end
    assert all(b - a <= timedelta(hours=1440) for a, b in chunks)
