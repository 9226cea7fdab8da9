"""`TenantAlarms`: encrypted alarm topic, alarms with actions, a cost budget and a dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.names import (
    alarm_name,
    alarm_topic_name,
    budget_arn,
    budget_name,
    tenant_event_rule_arns,
)

_GB = 1024**3


@dataclass
class TenantAlarmsArgs:
    """Inputs of `TenantAlarms`."""

    tenant_id: str
    """Tenant slug, for names and the budget's tag filter."""
    region: str
    """Region of the dashboard widgets."""
    account_id: pulumi.Input[str]
    """AWS account (topic policy conditions)."""
    key_arn: pulumi.Input[str]
    """Tenant key that encrypts the topic."""
    autoscaling_group_name: pulumi.Input[str]
    """Group watched by the CPU, capacity and status-check alarms."""
    min_size: int
    """Group minimum: in-service capacity below it raises the capacity alarm."""
    max_size: int
    """Group maximum: running at it for an hour raises the capacity-ceiling alarm."""
    bucket_names: pulumi.Input[dict[str, str]]
    """Buckets summed by the storage-quota alarm."""
    quota_gb: int
    """Storage quota of the tenant."""
    storage_quota_percent: float
    """Share of the quota at which the quota alarm fires."""
    cpu_high_percent: float
    """Average CPU above which the CPU alarm fires."""
    budget_usd: Decimal
    """Monthly cost budget."""
    contacts: tuple[str, ...] = field(default_factory=tuple)
    """E-mail subscribers of the topic."""
    capacity_low_minutes: int = 5
    """Minutes below the group minimum before the capacity alarm fires (from the plan's
    service level: a fraction of its monthly error budget)."""
    event_notifications: bool = False
    """Whether the tenant's EventBridge rules (e.g. voicemail) may publish to the topic."""


class TenantAlarms(pulumi.ComponentResource):
    """Alarms that reach people, and the money and capacity views of the tenant."""

    topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    alarm_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: TenantAlarmsArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantAlarms", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)

        topic = aws.sns.Topic(
            f"{name}-topic",
            name=alarm_topic_name(args.tenant_id),
            kms_master_key_id=args.key_arn,
            opts=child,
        )
        for i, contact in enumerate(args.contacts):
            aws.sns.TopicSubscription(
                f"{name}-contact-{i}",
                topic=topic.arn,
                protocol="email",
                endpoint=contact,
                opts=child,
            )
        self._topic = topic

        alarms = self._create_compute_alarms()
        alarms.append(self._create_storage_alarm())
        self._create_budget(topic)
        # After the alarms: the policy names each of them, so that in a pooled account
        # another tenant's alarms and budgets cannot publish to this topic.
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(
                topic.arn, args.account_id, pulumi.Output.all(*[a.arn for a in alarms])
            ).apply(
                lambda a: json.dumps(
                    _topic_policy(
                        args.tenant_id,
                        a[0],
                        a[1],
                        a[2],
                        tenant_event_rule_arns(args.tenant_id, args.region, a[1])
                        if args.event_notifications
                        else None,
                    )
                )
            ),
            opts=child,
        )
        dashboard = self._create_dashboard()

        self.topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs(
            {
                "topic_arn": self.topic_arn,
                "dashboard_name": self.dashboard_name,
                "alarm_names": self.alarm_names,
            }
        )

    def _alarm(self, role: str, **kwargs: Any) -> aws.cloudwatch.MetricAlarm:
        actions = [self._topic.arn]
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{role}",
            name=alarm_name(self._args.tenant_id, role),
            alarm_actions=actions,
            ok_actions=actions,
            opts=ResourceOptions(parent=self),
            **kwargs,
        )

    def _create_compute_alarms(self) -> list[aws.cloudwatch.MetricAlarm]:
        args = self._args
        group = {"AutoScalingGroupName": args.autoscaling_group_name}
        alarms = [
            self._alarm(
                "cpu-high",
                alarm_description=f"Average CPU above {args.cpu_high_percent}% for 15 minutes",
                namespace="AWS/EC2",
                metric_name="CPUUtilization",
                dimensions=group,
                statistic="Average",
                period=300,
                evaluation_periods=3,
                threshold=args.cpu_high_percent,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
            ),
            self._alarm(
                "status-check",
                alarm_description="An instance failed its EC2 status checks",
                namespace="AWS/EC2",
                metric_name="StatusCheckFailed",
                dimensions=group,
                statistic="Maximum",
                period=60,
                evaluation_periods=2,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
            ),
            self._alarm(
                "capacity-ceiling",
                alarm_description="The group has run at its plan's maximum for an hour",
                namespace="AWS/AutoScaling",
                metric_name="GroupInServiceInstances",
                dimensions=group,
                statistic="Minimum",
                period=300,
                evaluation_periods=12,
                threshold=max(args.max_size, 1),
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
            ),
        ]
        if args.min_size > 0:
            alarms.append(
                self._alarm(
                    "capacity-low",
                    alarm_description=f"Fewer than {args.min_size} instances in service",
                    namespace="AWS/AutoScaling",
                    metric_name="GroupInServiceInstances",
                    dimensions=group,
                    statistic="Minimum",
                    period=60,
                    evaluation_periods=args.capacity_low_minutes,
                    threshold=args.min_size,
                    comparison_operator="LessThanThreshold",
                    treat_missing_data="breaching",
                )
            )
        return alarms

    def _create_storage_alarm(self) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        threshold = args.quota_gb * _GB * args.storage_quota_percent / 100
        queries = pulumi.Output.from_input(args.bucket_names).apply(
            lambda names: _storage_queries(list(names.values()))
        )
        return self._alarm(
            "storage-quota",
            alarm_description=(
                f"Stored bytes above {args.storage_quota_percent}% of the {args.quota_gb} GB quota"
            ),
            metric_queries=queries,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=1,
            treat_missing_data="notBreaching",
        )

    def _create_budget(self, topic: aws.sns.Topic) -> None:
        args = self._args
        aws.budgets.Budget(
            f"{self._name}-budget",
            name=budget_name(args.tenant_id),
            budget_type="COST",
            limit_amount=str(args.budget_usd),
            limit_unit="USD",
            time_unit="MONTHLY",
            # Cost allocation tags appear to Budgets as `user:<key>$<value>`.
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:tenant${args.tenant_id}"]}],
            notifications=[
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": threshold,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": kind,
                    "subscriber_sns_topic_arns": [topic.arn],
                }
                for threshold, kind in ((80, "FORECASTED"), (100, "ACTUAL"))
            ],
            opts=ResourceOptions(parent=self),
        )

    def _create_dashboard(self) -> aws.cloudwatch.Dashboard:
        args = self._args
        body = pulumi.Output.all(args.autoscaling_group_name, args.bucket_names).apply(
            lambda a: json.dumps(_dashboard_body(args.region, a[0], list(a[1].values())))
        )
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=f"tenant-{args.tenant_id}",
            dashboard_body=body,
            opts=ResourceOptions(parent=self),
        )


def _storage_queries(bucket_names: list[str]) -> list[dict[str, Any]]:
    """One daily `BucketSizeBytes` query per bucket and their sum, the alarm's value."""
    queries: list[dict[str, Any]] = [
        {
            "id": f"b{i}",
            "return_data": False,
            "metric": {
                "namespace": "AWS/S3",
                "metric_name": "BucketSizeBytes",
                "dimensions": {"BucketName": bucket, "StorageType": "StandardStorage"},
                "period": 86400,
                "stat": "Average",
            },
        }
        for i, bucket in enumerate(bucket_names)
    ]
    total = "+".join(f"FILL(b{i}, 0)" for i in range(len(bucket_names))) or "0"
    queries.append(
        {"id": "total", "expression": total, "label": "Stored bytes", "return_data": True}
    )
    return queries


def _topic_policy(
    tenant_id: str,
    topic_arn: str,
    account_id: str,
    alarm_arns: list[str],
    event_rules: str | None = None,
) -> dict[str, Any]:
    """The tenant's own alarms and budget publish over TLS; so do the tenant's
    `event_rules` (an ARN pattern), when given."""
    events = [
        {
            "Sid": "TenantEventRulesPublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": event_rules},
            },
        }
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            *(events if event_rules is not None else []),
            {
                "Sid": "AlarmsAndBudgetsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {
                        "aws:SourceArn": [*alarm_arns, budget_arn(tenant_id, account_id)]
                    },
                },
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _dashboard_body(region: str, group: str, buckets: list[str]) -> dict[str, Any]:
    def widget(title: str, metrics: list[list[Any]], y: int, x: int) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "view": "timeSeries",
            },
        }

    return {
        "widgets": [
            widget("CPU", [["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", group]], 0, 0),
            widget(
                "Instances in service",
                [["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", group]],
                0,
                12,
            ),
            widget(
                "Stored bytes",
                [
                    ["AWS/S3", "BucketSizeBytes", "BucketName", b, "StorageType", "StandardStorage"]
                    for b in buckets
                ],
                6,
                0,
            ),
        ]
    }
