"""`TenantMail`: the e-mail add-on, sending from the tenant's domain through SES (v2).

A domain identity signed with Easy DKIM (2048-bit keys, the three CNAMEs in the domain's
Route 53 zone), sending through the tenant's configuration set (TLS required, reputation
metrics, bounces and complaints suppressed). Its events go two ways:

- CloudWatch metrics with the configuration set as dimension: that makes the tenant's sends
  measurable in a shared account, for its quota alarm and for metering;
- the tenant's log group `/tenants/<id>/mail` (KMS-encrypted with its key), one entry per
  event. SES cannot write to a log group itself; its EventBridge destination puts the
  events on the account's default bus, where the tenant's rule matches its configuration
  set and targets the log group. EventBridge writes there through a CloudWatch Logs
  resource policy shared by the tenants of the account and region (see `names`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.names import (
    MAIL_EVENTS_LOG_POLICY,
    mail_events_log_policy,
    mail_events_rule_name,
    tenant_log_group_name,
)

DKIM_RECORDS = 3
"""Easy DKIM always publishes three selectors."""
CONFIGURATION_SET_DIMENSION = "ses:configuration-set"
"""The dimension SES metrics of a configuration set carry (its automatic message tag)."""
DAY_SECONDS = 86_400
MAIL_EVENT_TYPES = ("SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT")
"""What the metrics count and the log records: every send and how it ended."""
LOGGED_EVENT_TYPES = (*MAIL_EVENT_TYPES, "DELIVERY_DELAY", "RENDERING_FAILURE")
"""The log also keeps the events a customer asks about when mail does not arrive."""


def configuration_set_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


@dataclass
class TenantMailArgs:
    """Inputs of `TenantMail`."""

    tenant_id: str
    """Tenant slug, for names."""
    domain: str
    """Sending domain."""
    zone: str
    """Public Route 53 zone holding `domain`."""
    daily_quota: int
    """E-mails per day the tenant may send."""
    quota_alarm_percent: float
    """Share of the daily quota at which the sending alarm fires."""
    alarm_topic_arn: pulumi.Input[str]
    """Topic the sending alarm notifies."""
    region: str
    """The tenant's region (its default event bus and log group are there)."""
    account_id: pulumi.Input[str]
    """The account the tenant lives in."""
    key_arn: pulumi.Input[str]
    """The tenant's KMS key, which encrypts the mail log group."""
    log_retention_days: int
    """How long mail events stay in the log group."""


class TenantMail(pulumi.ComponentResource):
    """SES identity, DKIM records, configuration set and sending alarm of one tenant."""

    identity_arn: pulumi.Output[str]
    configuration_set_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantMailArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantMail", name, None, opts)
        child = ResourceOptions(parent=self)
        set_name = configuration_set_name(args.tenant_id)

        configuration_set = aws.sesv2.ConfigurationSet(
            f"{name}-configuration-set",
            configuration_set_name=set_name,
            delivery_options={"tls_policy": "REQUIRE"},
            reputation_options={"reputation_metrics_enabled": True},
            sending_options={"sending_enabled": True},
            suppression_options={"suppressed_reasons": ["BOUNCE", "COMPLAINT"]},
            opts=child,
        )
        aws.sesv2.ConfigurationSetEventDestination(
            f"{name}-metrics",
            configuration_set_name=configuration_set.configuration_set_name,
            event_destination_name="cloudwatch-metrics",
            event_destination={
                "enabled": True,
                "matching_event_types": list(MAIL_EVENT_TYPES),
                "cloud_watch_destination": {
                    "dimension_configurations": [
                        {
                            "dimension_name": CONFIGURATION_SET_DIMENSION,
                            "dimension_value_source": "MESSAGE_TAG",
                            "default_dimension_value": set_name,
                        }
                    ]
                },
            },
            opts=child,
        )
        log_group = self._create_event_log(name, args, set_name, configuration_set)
        identity = aws.sesv2.EmailIdentity(
            f"{name}-identity",
            email_identity=args.domain,
            configuration_set_name=configuration_set.configuration_set_name,
            dkim_signing_attributes={"next_signing_key_length": "RSA_2048_BIT"},
            opts=child,
        )
        zone_id = aws.route53.get_zone_output(
            name=args.zone, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)
        ).zone_id
        tokens = identity.dkim_signing_attributes.apply(lambda a: list(a.tokens or []))
        for i in range(DKIM_RECORDS):
            token = tokens[i]
            aws.route53.Record(
                f"{name}-dkim-{i}",
                zone_id=zone_id,
                name=token.apply(lambda t: f"{t}._domainkey.{args.domain}"),
                type="CNAME",
                ttl=1800,
                records=[token.apply(lambda t: f"{t}.dkim.amazonses.com")],
                allow_overwrite=True,
                opts=child,
            )
        actions = [args.alarm_topic_arn]
        threshold = args.daily_quota * args.quota_alarm_percent / 100
        aws.cloudwatch.MetricAlarm(
            f"{name}-daily-quota",
            name=f"tenant-{args.tenant_id}-mail-daily-quota",
            alarm_description=(
                f"More than {args.quota_alarm_percent}% of the {args.daily_quota} e-mails a day "
                "sent in the last 24 hours"
            ),
            namespace="AWS/SES",
            metric_name="Send",
            dimensions={CONFIGURATION_SET_DIMENSION: set_name},
            statistic="Sum",
            period=DAY_SECONDS,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=child,
        )

        self.identity_arn = identity.arn
        self.configuration_set_name = configuration_set.configuration_set_name
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "identity_arn": self.identity_arn,
                "configuration_set_name": self.configuration_set_name,
                "log_group_name": self.log_group_name,
            }
        )

    def _create_event_log(
        self,
        name: str,
        args: TenantMailArgs,
        set_name: str,
        configuration_set: aws.sesv2.ConfigurationSet,
    ) -> aws.cloudwatch.LogGroup:
        """SES events -> the default event bus -> the tenant's rule -> its mail log group."""
        child = ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-events-log",
            name=tenant_log_group_name(args.tenant_id, "mail"),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=child,
        )
        # Every tenant of the account declares the same document, so whichever stack runs
        # last writes what all expect; no stack deletes it, since the others rely on it.
        log_policy = aws.cloudwatch.LogResourcePolicy(
            f"{name}-events-log-policy",
            policy_name=MAIL_EVENTS_LOG_POLICY,
            policy_document=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(mail_events_log_policy(args.region, account))
            ),
            opts=ResourceOptions(parent=self, retain_on_delete=True),
        )
        default_bus = pulumi.Output.from_input(args.account_id).apply(
            lambda account: f"arn:aws:events:{args.region}:{account}:event-bus/default"
        )
        aws.sesv2.ConfigurationSetEventDestination(
            f"{name}-events",
            configuration_set_name=configuration_set.configuration_set_name,
            event_destination_name="eventbridge",
            event_destination={
                "enabled": True,
                "matching_event_types": list(LOGGED_EVENT_TYPES),
                # SES publishes to the default bus only.
                "event_bridge_destination": {"event_bus_arn": default_bus},
            },
            opts=child,
        )
        # The default bus carries every tenant's mail events: the configuration set's
        # automatic tag picks this tenant's.
        rule = aws.cloudwatch.EventRule(
            f"{name}-events-rule",
            name=mail_events_rule_name(args.tenant_id),
            description=f"E-mail events of tenant {args.tenant_id} to its log group",
            event_pattern=json.dumps(
                {
                    "source": ["aws.ses"],
                    "detail": {"mail": {"tags": {CONFIGURATION_SET_DIMENSION: [set_name]}}},
                }
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-events-to-log",
            rule=rule.name,
            arn=log_group.arn,
            opts=ResourceOptions(parent=self, depends_on=[log_policy]),
        )
        return log_group
