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


def tenant_log_group_name(tenant_id: str, role: str) -> str:
    """The tenant's log groups live under `/tenants/<id>/` (its key and roles name that)."""
    return f"/tenants/{tenant_id}/{role}"


def mail_events_rule_name(tenant_id: str) -> str:
    """The rule that carries the tenant's SES events from EventBridge to its log group."""
    return f"tenant-{tenant_id}-mail-events"


MAIL_EVENTS_LOG_POLICY = "tenants-mail-events"
"""The one CloudWatch Logs resource policy per account and region that lets EventBridge
write mail events: an account holds at most 10 such policies, so tenants share it."""


def mail_events_log_policy(region: str, account_id: str) -> dict[str, object]:
    """`MAIL_EVENTS_LOG_POLICY`'s document: the same for every tenant of an account and region.

    It cannot name one tenant; it admits only the tenants' mail-event rules writing into
    their mail log groups, and the pack checks that each tenant's rules target only its own
    log groups (`tenant-event-target-enforce-own-log-group`).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantMailEventsFromEventBridge",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": (
                    f"arn:aws:logs:{region}:{account_id}:log-group:"
                    f"{tenant_log_group_name('*', 'mail')}:*"
                ),
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:aws:events:{region}:{account_id}:rule/"
                            f"{mail_events_rule_name('*')}"
                        )
                    },
                },
            }
        ],
    }
