"""Alarms: every alarm notifies someone; every Auto Scaling group is watched."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from policies.define import Report, StackReport, of_type, resource_policy, stack_policy, within
from policies.frameworks import hipaa, iso, pci, soc2
from policies.props import as_bool, items, known, mapping
from policies.rules.compute import AUTOSCALING_GROUP

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _check_actions(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("actionsEnabled")) is False:
        report("has its actions disabled")
    elif not items(args.props.get("alarmActions")):
        report("has no alarm actions; nobody is told when it fires")


cloudwatch_metric_alarm_missing_actions = resource_policy(
    name="aws-cloudwatch-metric-alarm-missing-actions",
    description="CloudWatch metric alarms notify someone when they fire.",
    severity=Severity.MEDIUM,
    controls=(pci("10.7.2"), hipaa("164.308(a)(1)(ii)(D)"), soc2("CC7.2"), iso("A.8.16")),
    remediation="Set alarm_actions to the tenant's alarm topic ARN.",
    resource_types=(METRIC_ALARM,),
    check=_check_actions,
    topics=("monitoring",),
)


def _metrics(alarm: PolicyResource) -> list[tuple[str, dict[str, Any]]]:
    """(metric name, dimensions) of a plain or metric-math alarm."""
    found = [(str(alarm.props.get("metricName", "")), dict(mapping(alarm.props.get("dimensions"))))]
    for query in items(alarm.props.get("metricQueries")):
        metric = mapping(mapping(mapping(query).get("metric")))
        found.append((str(metric.get("metricName", "")), dict(mapping(metric.get("dimensions")))))
    return found


def _watches(alarm: PolicyResource, group: PolicyResource, metric: str) -> bool:
    names = {str(v) for k in ("name", "id") if (v := known(group.props, k)) is not None}
    depends = any(d.urn == group.urn for d in alarm.dependencies)
    for name, dimensions in _metrics(alarm):
        if not (name == metric or (metric == "Group*" and name.startswith("Group"))):
            continue
        dimension = dimensions.get("AutoScalingGroupName")
        if (dimension is not None and str(dimension) in names) or depends:
            return True
    return False


def _check_group_alarms(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    alarms = of_type(args, METRIC_ALARM)
    for group in of_type(args, AUTOSCALING_GROUP):
        with within():
            if not any(_watches(a, group, "CPUUtilization") for a in alarms):
                report(group, "has no CPUUtilization alarm")
        with within():
            if not any(_watches(a, group, "Group*") for a in alarms):
                report(
                    group,
                    "has no capacity alarm (a Group* metric such as GroupInServiceInstances)",
                )


autoscaling_group_missing_alarms = stack_policy(
    name="aws-autoscaling-group-missing-alarms",
    description="Every Auto Scaling group has a CPU alarm and a capacity alarm.",
    severity=Severity.MEDIUM,
    controls=(pci("10.7.2"), hipaa("164.308(a)(1)(ii)(D)"), soc2("CC7.2"), iso("A.8.16")),
    remediation="Add aws.cloudwatch.MetricAlarm resources on CPUUtilization and "
    "GroupInServiceInstances with the AutoScalingGroupName dimension.",
    resource_types=(AUTOSCALING_GROUP, METRIC_ALARM),
    check=_check_group_alarms,
    topics=("monitoring", "compute"),
)
