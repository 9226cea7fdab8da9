"""`TenantTelephony`: the telephony add-on, phone lines on an Amazon Connect instance.

One instance per tenant with its business hours, queue and inbound flow (forwarding within
hours, voicemail or a closed message as the fallback); each line is a claimed number routed
to that flow.
Voicemail is the recorded IVR part of a call: Connect writes it through the instance's
call-recording storage to the tenant's bucket, encrypted with the tenant key, and an
EventBridge rule on the new object notifies the tenant's alarm topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi import ResourceOptions

from components.contact_flows import inbound_flow
from components.spec import TelephonySpec

VOICEMAIL_PREFIX = "voicemail"
"""Where in the bucket voicemail recordings go."""


def voicemail_rule_name(tenant_id: str) -> str:
    """Name of the EventBridge rule that announces new voicemail (a `tenant-<id>-*` rule)."""
    return f"tenant-{tenant_id}-voicemail"


@dataclass
class TenantTelephonyArgs:
    """Inputs of `TenantTelephony`."""

    tenant_id: str
    """Tenant slug, for names."""
    display_name: str
    """How callers hear the tenant named in prompts."""
    telephony: TelephonySpec
    """Lines, numbers, forwarding, voicemail and business hours."""
    key_arn: pulumi.Input[str]
    """Tenant key that encrypts voicemail recordings."""
    voicemail_bucket: pulumi.Input[str]
    """The tenant's (KMS-encrypted) bucket voicemail recordings go to."""
    alarm_topic_arn: pulumi.Input[str]
    """Topic told about each new voicemail."""


class TenantTelephony(pulumi.ComponentResource):
    """Connect instance, hours, queue, numbers and flows of one tenant."""

    instance_arn: pulumi.Output[str]
    instance_id: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    phone_numbers: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: TenantTelephonyArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantTelephony", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)

        # The alias names the instance's login URL, unique per region across AWS.
        alias_suffix = random.RandomId(f"{name}-alias-suffix", byte_length=4, opts=child)
        instance = aws.connect.Instance(
            f"{name}-instance",
            identity_management_type="CONNECT_MANAGED",
            instance_alias=alias_suffix.hex.apply(lambda h: f"{args.tenant_id}-{h}"),
            inbound_calls_enabled=True,
            # Forwarding places an outbound leg to the customer's number.
            outbound_calls_enabled=True,
            contact_flow_logs_enabled=True,
            opts=child,
        )
        self._instance = instance
        hours = self._create_hours()
        queue = aws.connect.Queue(
            f"{name}-queue",
            instance_id=instance.id,
            name=f"tenant-{args.tenant_id}",
            description=f"Calls to the lines of tenant {args.tenant_id}",
            hours_of_operation_id=hours.hours_of_operation_id,
            opts=child,
        )
        if args.telephony.voicemail:
            self._create_voicemail_storage()
        flow = self._create_flow(queue, hours)
        numbers = [self._create_line(i, flow) for i in range(1, args.telephony.lines + 1)]

        self.instance_arn = instance.arn
        self.instance_id = instance.id
        self.queue_arn = queue.arn
        self.phone_numbers = pulumi.Output.all(*[n.phone_number for n in numbers])
        self.register_outputs(
            {
                "instance_arn": self.instance_arn,
                "instance_id": self.instance_id,
                "queue_arn": self.queue_arn,
                "phone_numbers": self.phone_numbers,
            }
        )

    def _create_hours(self) -> aws.connect.HoursOfOperation:
        args = self._args
        hours = args.telephony.hours
        opens_h, opens_m = (int(p) for p in hours.opens.split(":"))
        closes_h, closes_m = (int(p) for p in hours.closes.split(":"))
        return aws.connect.HoursOfOperation(
            f"{self._name}-hours",
            instance_id=self._instance.id,
            name=f"tenant-{args.tenant_id}-business-hours",
            description="When calls are forwarded",
            time_zone=hours.time_zone,
            configs=[
                aws.connect.HoursOfOperationConfigArgs(
                    day=day.value,
                    start_time=aws.connect.HoursOfOperationConfigStartTimeArgs(
                        hours=opens_h, minutes=opens_m
                    ),
                    end_time=aws.connect.HoursOfOperationConfigEndTimeArgs(
                        hours=closes_h, minutes=closes_m
                    ),
                )
                for day in hours.days
            ],
            opts=ResourceOptions(parent=self),
        )

    def _create_voicemail_storage(self) -> None:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        aws.connect.InstanceStorageConfig(
            f"{name}-voicemail-storage",
            instance_id=self._instance.id,
            resource_type="CALL_RECORDINGS",
            storage_config=aws.connect.InstanceStorageConfigStorageConfigArgs(
                storage_type="S3",
                s3_config=aws.connect.InstanceStorageConfigStorageConfigS3ConfigArgs(
                    bucket_name=args.voicemail_bucket,
                    bucket_prefix=VOICEMAIL_PREFIX,
                    encryption_config=aws.connect.InstanceStorageConfigStorageConfigS3ConfigEncryptionConfigArgs(
                        encryption_type="KMS", key_id=args.key_arn
                    ),
                ),
            ),
            opts=child,
        )
        # S3 sends its object events to EventBridge, where the rule picks the recordings.
        aws.s3.BucketNotification(
            f"{name}-voicemail-bucket-events",
            bucket=args.voicemail_bucket,
            eventbridge=True,
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-voicemail-rule",
            name=voicemail_rule_name(args.tenant_id),
            description=f"New voicemail of tenant {args.tenant_id}",
            event_pattern=pulumi.Output.from_input(args.voicemail_bucket).apply(
                lambda bucket: json.dumps(
                    {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Created"],
                        "detail": {
                            "bucket": {"name": [bucket]},
                            "object": {"key": [{"prefix": f"{VOICEMAIL_PREFIX}/"}]},
                        },
                    }
                )
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-voicemail-notify",
            rule=rule.name,
            arn=args.alarm_topic_arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={"key": "$.detail.object.key", "time": "$.time"},
                input_template=json.dumps(
                    f"New voicemail for {args.display_name} at <time>: <key>"
                ),
            ),
            opts=child,
        )

    def _create_flow(
        self, queue: aws.connect.Queue, hours: aws.connect.HoursOfOperation
    ) -> aws.connect.ContactFlow:
        args = self._args
        content = pulumi.Output.all(queue.arn, hours.arn).apply(
            lambda a: json.dumps(
                inbound_flow(
                    args.telephony, tenant_name=args.display_name, queue_arn=a[0], hours_arn=a[1]
                )
            )
        )
        return aws.connect.ContactFlow(
            f"{self._name}-inbound-flow",
            instance_id=self._instance.id,
            name="inbound",
            description="Calls to every line: forwarding within hours, then the fallback",
            type="CONTACT_FLOW",
            content=content,
            opts=ResourceOptions(parent=self),
        )

    def _create_line(self, index: int, flow: aws.connect.ContactFlow) -> aws.connect.PhoneNumber:
        name, args = f"{self._name}-line-{index}", self._args
        child = ResourceOptions(parent=self)
        number = aws.connect.PhoneNumber(
            f"{name}-number",
            target_arn=self._instance.arn,
            country_code=args.telephony.country,
            type=args.telephony.number_type,
            description=f"Line {index} of tenant {args.tenant_id}",
            opts=child,
        )
        aws.connect.PhoneNumberContactFlowAssociation(
            f"{name}-routing",
            instance_id=self._instance.id,
            phone_number_id=number.id,
            contact_flow_id=flow.contact_flow_id,
            opts=child,
        )
        return number
