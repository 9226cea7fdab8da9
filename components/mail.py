"""`TenantMail`: the e-mail add-on, sending from the tenant's domain through SES (v2).

A domain identity signed with Easy DKIM (2048-bit keys, the three CNAMEs in the domain's
Route 53 zone), sending through the tenant's configuration set (TLS required, reputation
metrics, bounces and complaints suppressed), whose events become CloudWatch metrics with
the configuration set as dimension: that makes the tenant's sends measurable in a shared
account, for its quota alarm and for metering.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

DKIM_RECORDS = 3
"""Easy DKIM always publishes three selectors."""
CONFIGURATION_SET_DIMENSION = "ses:configuration-set"
"""The dimension SES metrics of a configuration set carry (its automatic message tag)."""
DAY_SECONDS = 86_400


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


class TenantMail(pulumi.ComponentResource):
    """SES identity, DKIM records, configuration set and sending alarm of one tenant."""

    identity_arn: pulumi.Output[str]
    configuration_set_name: pulumi.Output[str]

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
                "matching_event_types": ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT"],
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
        self.register_outputs(
            {
                "identity_arn": self.identity_arn,
                "configuration_set_name": self.configuration_set_name,
            }
        )
