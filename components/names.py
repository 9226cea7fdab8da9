"""The names the bundle gives its AWS resources, for code that must find or name them
without reading the stack: resource policies naming the tenant's own resources (before
they exist), and metering and health checks that list them."""

from __future__ import annotations


def alarm_name_prefix(tenant_id: str) -> str:
    """What every CloudWatch alarm of the tenant is named with; readers of alarm states
    (metering, health) list alarms by it, then confirm the `tenant` tag."""
    return f"tenant-{tenant_id}-"


def alarm_name(tenant_id: str, role: str) -> str:
    return f"{alarm_name_prefix(tenant_id)}{role}"


def alarm_topic_name(tenant_id: str) -> str:
    """The tenant's alarm topic (the key policy names it before the topic exists)."""
    return f"tenant-{tenant_id}-alarms"


def budget_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}-monthly"


def budget_arn(tenant_id: str, account_id: str) -> str:
    return f"arn:aws:budgets::{account_id}:budget/{budget_name(tenant_id)}"


def tenant_event_rule_arns(tenant_id: str, region: str, account_id: str) -> str:
    """ARN pattern of the tenant's EventBridge rules (named `tenant-<id>-<role>`)."""
    return f"arn:aws:events:{region}:{account_id}:rule/tenant-{tenant_id}-*"
