"""Metering: what a tenant used in a time window, read with boto3 from its own resources.

Three meters, each additive over windows so a billing period can be split at plan changes
and suspensions and metered piece by piece:

- instance-hours: hourly averages of `AWS/AutoScaling GroupInServiceInstances` of the
  tenant's autoscaling groups (the bundle enables group metrics collection);
- storage GB-days: daily `AWS/S3 BucketSizeBytes` of the tenant's buckets, every storage
  class (invoices divide by the days of the period to get GB-months);
- alarm-hours: time the tenant's CloudWatch alarms spent in `ALARM`, from their state
  history (`DescribeAlarmHistory`);
- LCU-hours of the public endpoint add-on: hourly averages of `AWS/ApplicationELB
  ConsumedLCUs` of the tenant's load balancers, summed (what AWS bills them by);
- call minutes of the telephony add-on: the duration of every contact of the tenant's
  Connect instances that started in the window (`SearchContacts`), each rounded up to a
  whole minute as carriers bill;
- VPN connection-hours of the private connectivity add-on: the hours in which AWS reported
  `AWS/VPN TunnelState` for each of the tenant's VPN connections (it does every few minutes
  for as long as a connection exists, whether its tunnels are up or not);
- e-mails sent with the mail add-on: the daily sums of `AWS/SES Send` of the tenant's
  configuration set (`tenant-<id>`, which every send of the tenant goes through).

A tenant's resources are found by its `tenant` tag; names are only a pre-filter (the bundle
prefixes bucket and alarm names with the tenant id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from components.names import alarm_name_prefix

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_connect import ConnectClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sesv2 import SESV2Client

GIB = Decimal(2**30)
"""Bytes in the GB of a GB-month (AWS bills storage in binary gigabytes)."""
_MAX_DATAPOINTS = 1440
"""GetMetricStatistics returns at most this many datapoints per call."""
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
AVAILABILITY_STEP = timedelta(minutes=5)
"""Granularity of availability: fine enough for a monthly objective (8,640 intervals)."""


@dataclass(frozen=True)
class MeteringWindow:
    """A half-open time range [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None:
                raise ValueError(f"window {name} {value} is naive; use timezone-aware UTC times")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def chunks(self, step: timedelta) -> Iterator[tuple[datetime, datetime]]:
        """Sub-ranges of at most `_MAX_DATAPOINTS` steps each."""
        size = step * _MAX_DATAPOINTS
        start = self.start
        while start < self.end:
            end = min(start + size, self.end)
            yield start, end
            start = end

    def overlap(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) lies inside the window."""
        return max(timedelta(0), min(end, self.end) - max(start, self.start))


class TenantResources(BaseModel):
    """The metered resources of one tenant."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    autoscaling_groups: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    load_balancers: tuple[str, ...] = ()
    """`app/<name>/<id>`: the `LoadBalancer` dimension of their metrics."""
    connect_instances: tuple[str, ...] = ()
    """Connect instance ids."""
    vpn_connections: tuple[str, ...] = ()
    """Site-to-site VPN connection ids."""
    mail_configuration_sets: tuple[str, ...] = ()
    """SES configuration sets the tenant sends through."""


class MeterReading(BaseModel):
    """Usage of one tenant in one window; readings of adjacent windows add up."""

    model_config = ConfigDict(frozen=True)

    instance_hours: Decimal = Decimal(0)
    storage_gb_days: Decimal = Decimal(0)
    alarm_hours: Decimal = Decimal(0)
    measured_minutes: Decimal = Decimal(0)
    """Minutes of the window whose availability was measured (0: not metered)."""
    available_minutes: Decimal = Decimal(0)
    """Of those, minutes in five-minute intervals with an instance in service."""
    lcu_hours: Decimal = Decimal(0)
    call_minutes: Decimal = Decimal(0)
    vpn_connection_hours: Decimal = Decimal(0)
    emails_sent: Decimal = Decimal(0)

    def __add__(self, other: MeterReading) -> MeterReading:
        return MeterReading(
            instance_hours=self.instance_hours + other.instance_hours,
            storage_gb_days=self.storage_gb_days + other.storage_gb_days,
            alarm_hours=self.alarm_hours + other.alarm_hours,
            measured_minutes=self.measured_minutes + other.measured_minutes,
            available_minutes=self.available_minutes + other.available_minutes,
            lcu_hours=self.lcu_hours + other.lcu_hours,
            call_minutes=self.call_minutes + other.call_minutes,
            vpn_connection_hours=self.vpn_connection_hours + other.vpn_connection_hours,
            emails_sent=self.emails_sent + other.emails_sent,
        )


def _tags_match(tags: Sequence[Any], tenant_id: str) -> bool:
    return any(t["Key"] == "tenant" and t["Value"] == tenant_id for t in tags)


def tenant_groups(autoscaling: AutoScalingClient, tenant_id: str) -> list[str]:
    """The tenant's autoscaling groups, by their `tenant` tag."""
    groups: list[str] = []
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": "tag:tenant", "Values": [tenant_id]}]
    ):
        groups.extend(g["AutoScalingGroupName"] for g in page["AutoScalingGroups"])
    return groups


def discover_resources(
    tenant_id: str,
    *,
    autoscaling: AutoScalingClient,
    s3: S3Client,
    cloudwatch: CloudWatchClient,
    elbv2: ElasticLoadBalancingv2Client | None = None,
    connect: ConnectClient | None = None,
    ec2: EC2Client | None = None,
    sesv2: SESV2Client | None = None,
) -> TenantResources:
    """The tenant's autoscaling groups, buckets and alarms, by their `tenant` tag; with the
    clients given, also its load balancers and Connect instances (the add-ons)."""
    groups = tenant_groups(autoscaling, tenant_id)

    buckets: list[str] = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket.get("Name", "")
        if not name.startswith(f"{tenant_id}-"):
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchTagSet":
                continue
            raise
        if _tags_match(tags, tenant_id):
            buckets.append(name)

    alarms: list[str] = []
    for alarm_page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=alarm_name_prefix(tenant_id), AlarmTypes=["MetricAlarm"]
    ):
        for alarm in alarm_page.get("MetricAlarms", []):
            tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            if _tags_match(tags, tenant_id):
                alarms.append(alarm["AlarmName"])
    return TenantResources(
        tenant_id=tenant_id,
        autoscaling_groups=tuple(sorted(groups)),
        buckets=tuple(sorted(buckets)),
        alarms=tuple(sorted(alarms)),
        load_balancers=_load_balancers(tenant_id, elbv2) if elbv2 is not None else (),
        connect_instances=_connect_instances(tenant_id, connect) if connect is not None else (),
        vpn_connections=_vpn_connections(tenant_id, ec2) if ec2 is not None else (),
        mail_configuration_sets=_configuration_sets(tenant_id, sesv2) if sesv2 is not None else (),
    )


def _configuration_sets(tenant_id: str, sesv2: SESV2Client) -> tuple[str, ...]:
    # Configuration set names are unique per account and region; the bundle names its own.
    wanted = f"tenant-{tenant_id}"
    found: list[str] = []
    token: str | None = None
    while True:
        page = (
            sesv2.list_configuration_sets(NextToken=token)
            if token
            else sesv2.list_configuration_sets()
        )
        found.extend(n for n in page.get("ConfigurationSets", []) if n == wanted)
        token = page.get("NextToken")
        if not token:
            return tuple(found)


def _vpn_connections(tenant_id: str, ec2: EC2Client) -> tuple[str, ...]:
    described = ec2.describe_vpn_connections(
        Filters=[{"Name": "tag:tenant", "Values": [tenant_id]}]
    )
    return tuple(sorted(c["VpnConnectionId"] for c in described.get("VpnConnections", [])))


def _load_balancers(tenant_id: str, elbv2: ElasticLoadBalancingv2Client) -> tuple[str, ...]:
    found: list[str] = []
    for page in elbv2.get_paginator("describe_load_balancers").paginate():
        arns = [lb["LoadBalancerArn"] for lb in page["LoadBalancers"]]
        # DescribeTags takes at most 20 ARNs per call.
        for start in range(0, len(arns), 20):
            described = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
            for item in described["TagDescriptions"]:
                if _tags_match(item.get("Tags", []), tenant_id):
                    found.append(item["ResourceArn"].split(":loadbalancer/", 1)[1])
    return tuple(sorted(found))


def _connect_instances(tenant_id: str, connect: ConnectClient) -> tuple[str, ...]:
    found: list[str] = []
    for page in connect.get_paginator("list_instances").paginate():
        for instance in page.get("InstanceSummaryList", []):
            tags = connect.list_tags_for_resource(resourceArn=instance["Arn"]).get("tags", {})
            if tags.get("tenant") == tenant_id:
                found.append(instance["Id"])
    return tuple(sorted(found))


def alarm_time(
    initial_state: str, transitions: Sequence[tuple[datetime, str]], window: MeteringWindow
) -> timedelta:
    """Time in `ALARM` inside `window`, from the state at its start and later transitions
    (time, new state) in ascending order."""
    total = timedelta(0)
    state, since = initial_state, window.start
    for at, new_state in transitions:
        if state == "ALARM":
            total += window.overlap(since, at)
        state, since = new_state, max(at, window.start)
    if state == "ALARM":
        total += window.overlap(since, window.end)
    return total


def _hours(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds())) / Decimal(3600)


class UsageMeter:
    """Reads a tenant's meters from CloudWatch (and Connect, for call minutes)."""

    def __init__(self, cloudwatch: CloudWatchClient, connect: ConnectClient | None = None) -> None:
        self._cloudwatch = cloudwatch
        self._connect = connect

    def measure(self, resources: TenantResources, window: MeteringWindow) -> MeterReading:
        measured, available = self.availability(resources.autoscaling_groups, window)
        return MeterReading(
            instance_hours=self.instance_hours(resources.autoscaling_groups, window),
            storage_gb_days=self.storage_gb_days(resources.buckets, window),
            alarm_hours=self.alarm_hours(resources.alarms, window),
            measured_minutes=measured,
            available_minutes=available,
            lcu_hours=self.lcu_hours(resources.load_balancers, window),
            call_minutes=self.call_minutes(resources.connect_instances, window),
            vpn_connection_hours=self.vpn_connection_hours(resources.vpn_connections, window),
            emails_sent=self.emails_sent(resources.mail_configuration_sets, window),
        )

    def availability(
        self, groups: Sequence[str], window: MeteringWindow
    ) -> tuple[Decimal, Decimal]:
        """(measured, available) minutes: a five-minute interval is available when every
        group had at least one instance in service throughout it. An interval with no
        datapoint counts as unavailable, as the capacity alarm treats missing data."""
        if not groups:
            return Decimal(0), Decimal(0)
        slots = int((window.end - window.start) / AVAILABILITY_STEP)
        serving: dict[datetime, int] = {}
        for group in groups:
            for start, end in window.chunks(AVAILABILITY_STEP):
                response = self._cloudwatch.get_metric_statistics(
                    Namespace="AWS/AutoScaling",
                    MetricName="GroupInServiceInstances",
                    Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
                    StartTime=start,
                    EndTime=end,
                    Period=int(AVAILABILITY_STEP.total_seconds()),
                    Statistics=["Minimum"],
                )
                for point in response["Datapoints"]:
                    if point.get("Minimum", 0.0) >= 1:
                        slot = point["Timestamp"].astimezone(UTC)
                        serving[slot] = serving.get(slot, 0) + 1
        available = sum(1 for count in serving.values() if count == len(groups))
        minutes = Decimal(int(AVAILABILITY_STEP.total_seconds() // 60))
        return Decimal(slots) * minutes, Decimal(min(available, slots)) * minutes

    def emails_sent(self, configuration_sets: Sequence[str], window: MeteringWindow) -> Decimal:
        """E-mails sent through the configuration sets in the window."""
        total = Decimal(0)
        for configuration_set in configuration_sets:
            for start, end in window.chunks(DAY):
                response = self._cloudwatch.get_metric_statistics(
                    Namespace="AWS/SES",
                    MetricName="Send",
                    Dimensions=[{"Name": "ses:configuration-set", "Value": configuration_set}],
                    StartTime=start,
                    EndTime=end,
                    Period=int(DAY.total_seconds()),
                    Statistics=["Sum"],
                )
                for point in response["Datapoints"]:
                    total += Decimal(str(point.get("Sum", 0.0)))
        return total

    def vpn_connection_hours(self, connections: Sequence[str], window: MeteringWindow) -> Decimal:
        """Hours of the window in which each connection reported its tunnel state."""
        hours = 0
        for connection in connections:
            for start, end in window.chunks(HOUR):
                response = self._cloudwatch.get_metric_statistics(
                    Namespace="AWS/VPN",
                    MetricName="TunnelState",
                    Dimensions=[{"Name": "VpnId", "Value": connection}],
                    StartTime=start,
                    EndTime=end,
                    Period=int(HOUR.total_seconds()),
                    Statistics=["SampleCount"],
                )
                hours += sum(1 for p in response["Datapoints"] if p.get("SampleCount", 0) > 0)
        return Decimal(hours)

    def lcu_hours(self, load_balancers: Sequence[str], window: MeteringWindow) -> Decimal:
        """Hourly average consumed LCUs, summed over the window's hours."""
        total = Decimal(0)
        for load_balancer in load_balancers:
            total += self._sum_of_averages(
                "AWS/ApplicationELB",
                "ConsumedLCUs",
                [{"Name": "LoadBalancer", "Value": load_balancer}],
                window,
                HOUR,
            )
        return total

    def call_minutes(self, instances: Sequence[str], window: MeteringWindow) -> Decimal:
        """Minutes of the contacts that started in the window, each rounded up."""
        if not instances:
            return Decimal(0)
        if self._connect is None:
            raise ValueError("call minutes need a Connect client")
        minutes = 0
        for instance in instances:
            for page in self._connect.get_paginator("search_contacts").paginate(
                InstanceId=instance,
                TimeRange={
                    "Type": "INITIATION_TIMESTAMP",
                    "StartTime": window.start,
                    "EndTime": window.end,
                },
                SearchCriteria={"Channels": ["VOICE"]},
            ):
                for contact in page.get("Contacts", []):
                    started = contact.get("InitiationTimestamp")
                    ended = contact.get("DisconnectTimestamp")
                    if started is None or ended is None:
                        continue  # a call still running when metered has no duration yet
                    seconds = max(0, int((ended - started).total_seconds()))
                    minutes += -(-seconds // 60)
        return Decimal(minutes)

    def instance_hours(self, groups: Sequence[str], window: MeteringWindow) -> Decimal:
        """Hourly average in-service instances, summed over the window's hours."""
        total = Decimal(0)
        for group in groups:
            total += self._sum_of_averages(
                "AWS/AutoScaling",
                "GroupInServiceInstances",
                [{"Name": "AutoScalingGroupName", "Value": group}],
                window,
                HOUR,
            )
        return total

    def storage_gb_days(self, buckets: Sequence[str], window: MeteringWindow) -> Decimal:
        """Daily bucket sizes (every storage class) in GB, summed over the window's days."""
        total_bytes = Decimal(0)
        for bucket in buckets:
            storage_types: set[str] = set()
            for page in self._cloudwatch.get_paginator("list_metrics").paginate(
                Namespace="AWS/S3",
                MetricName="BucketSizeBytes",
                Dimensions=[{"Name": "BucketName", "Value": bucket}],
            ):
                for metric in page.get("Metrics", []):
                    storage_types.update(
                        d["Value"]
                        for d in metric.get("Dimensions", [])
                        if d["Name"] == "StorageType"
                    )
            for storage_type in sorted(storage_types):
                total_bytes += self._sum_of_averages(
                    "AWS/S3",
                    "BucketSizeBytes",
                    [
                        {"Name": "BucketName", "Value": bucket},
                        {"Name": "StorageType", "Value": storage_type},
                    ],
                    window,
                    DAY,
                )
        return total_bytes / GIB

    def alarm_hours(self, alarms: Sequence[str], window: MeteringWindow) -> Decimal:
        """Hours each alarm spent in `ALARM` inside the window, summed."""
        total = timedelta(0)
        for alarm in alarms:
            transitions: list[tuple[datetime, str, str]] = []
            # History from the window's start onwards: the first transition's old state is the
            # state at the start; with none at all, the current state held all along.
            for page in self._cloudwatch.get_paginator("describe_alarm_history").paginate(
                AlarmName=alarm,
                HistoryItemType="StateUpdate",
                StartDate=window.start,
                EndDate=max(window.end, datetime.now(UTC)),
                ScanBy="TimestampAscending",
            ):
                for item in page.get("AlarmHistoryItems", []):
                    data = json.loads(item.get("HistoryData", "{}"))
                    transitions.append(
                        (
                            item["Timestamp"],
                            data["oldState"]["stateValue"],
                            data["newState"]["stateValue"],
                        )
                    )
            if transitions:
                initial = transitions[0][1]
            else:
                described = self._cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
                initial = described[0]["StateValue"] if described else "OK"
            total += alarm_time(initial, [(at, new) for at, _, new in transitions], window)
        return _hours(total)

    def _sum_of_averages(
        self,
        namespace: str,
        metric: str,
        dimensions: list[Any],
        window: MeteringWindow,
        step: timedelta,
    ) -> Decimal:
        """The sum of per-step averages: instance-hours for hourly steps, byte-days for daily."""
        total = Decimal(0)
        for start, end in window.chunks(step):
            response = self._cloudwatch.get_metric_statistics(
                Namespace=namespace,
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=start,
                EndTime=end,
                Period=int(step.total_seconds()),
                Statistics=["Average"],
            )
            for point in response["Datapoints"]:
                total += Decimal(str(point.get("Average", 0.0)))
        return total
