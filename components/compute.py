"""`TenantCompute`: launch template and autoscaling group over the private subnets."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.spec import ScalingSchedule

# Graviton families run arm64 images; everything else x86_64.
_ARM_FAMILIES = ("t4g", "m7g", "c7g", "r7g", "m6g", "c6g", "r6g")


def image_parameter(instance_type: str) -> str:
    """The SSM public parameter of the current Amazon Linux 2023 image for the type's CPU."""
    arch = "arm64" if instance_type.split(".", maxsplit=1)[0] in _ARM_FAMILIES else "x86_64"
    return f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


@dataclass
class TenantComputeArgs:
    """Inputs of `TenantCompute`."""

    tenant_id: str
    """Tenant slug, for names."""
    instance_type: str
    """EC2 instance type."""
    min_size: int
    desired_capacity: int
    max_size: int
    cpu_target_percent: float
    """Average CPU the target-tracking policy holds."""
    volume_size_gb: int
    """Root volume size."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets the group spans."""
    security_group_id: pulumi.Input[str]
    """App security group of the instances."""
    instance_profile_arn: pulumi.Input[str]
    """Workload instance profile."""
    key_arn: pulumi.Input[str]
    """Tenant key that encrypts the EBS volumes."""
    secret_arn: pulumi.Input[str]
    """Tenant secret the instances read at boot (by ARN: no secret in user data)."""
    tags: dict[str, str]
    """Tags for the group and its instances (ASGs do not take provider default tags)."""
    schedules: tuple[ScalingSchedule, ...] = field(default_factory=tuple)
    """Scheduled capacity changes."""


class TenantCompute(pulumi.ComponentResource):
    """IMDSv2-only, encrypted, private instances scaled on CPU and schedules."""

    autoscaling_group_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantComputeArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantCompute", name, None, opts)
        child = ResourceOptions(parent=self)

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name_prefix=f"tenant-{args.tenant_id}-",
            description=f"Workers of tenant {args.tenant_id}",
            image_id=f"resolve:ssm:{image_parameter(args.instance_type)}",
            instance_type=args.instance_type,
            iam_instance_profile={"arn": args.instance_profile_arn},
            network_interfaces=[
                {
                    "associate_public_ip_address": "false",
                    "delete_on_termination": "true",
                    "security_groups": [args.security_group_id],
                }
            ],
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                # One hop: containers on the instance cannot reach the instance's credentials.
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "enabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "encrypted": "true",
                        "kms_key_id": args.key_arn,
                        "volume_size": args.volume_size_gb,
                        "volume_type": "gp3",
                        "delete_on_termination": "true",
                    },
                }
            ],
            monitoring={"enabled": True},
            user_data=pulumi.Output.from_input(args.secret_arn).apply(_user_data),
            tag_specifications=[
                {"resource_type": "instance", "tags": args.tags},
                {"resource_type": "volume", "tags": args.tags},
            ],
            update_default_version=True,
            opts=child,
        )
        group = aws.autoscaling.Group(
            f"{name}-asg",
            name_prefix=f"tenant-{args.tenant_id}-",
            vpc_zone_identifiers=args.subnet_ids,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            health_check_type="EC2",
            health_check_grace_period=120,
            default_instance_warmup=120,
            # Metering and the capacity alarms read these group metrics.
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_MAX_SIZE,
                aws.autoscaling.Metric.GROUP_MIN_SIZE,
            ],
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=50
                ),
            ),
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                for k, v in args.tags.items()
            ],
            opts=child,
        )
        aws.autoscaling.Policy(
            f"{name}-cpu-target",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ASGAverageCPUUtilization"
                },
                "target_value": args.cpu_target_percent,
            },
            opts=child,
        )
        for schedule in args.schedules:
            aws.autoscaling.Schedule(
                f"{name}-schedule-{schedule.name}",
                scheduled_action_name=f"{args.tenant_id}-{schedule.name}",
                autoscaling_group_name=group.name,
                recurrence=schedule.recurrence,
                time_zone=schedule.time_zone,
                min_size=schedule.min_size,
                max_size=schedule.max_size,
                desired_capacity=schedule.desired_capacity,
                opts=child,
            )

        self.autoscaling_group_name = group.name
        self.launch_template_id = template.id
        self.register_outputs(
            {
                "autoscaling_group_name": self.autoscaling_group_name,
                "launch_template_id": self.launch_template_id,
            }
        )


def _user_data(secret_arn: str) -> str:
    """Boot script: fetch the secret at runtime by ARN, so user data holds no secret."""
    region = secret_arn.split(":")[3]
    script = f"""#!/bin/bash
set -euo pipefail
install -d -m 0700 /etc/tenant
aws secretsmanager get-secret-value --region '{region}' --secret-id '{secret_arn}' \\
  --query SecretString --output text > /etc/tenant/app-secret
chmod 0600 /etc/tenant/app-secret
"""
    return base64.b64encode(script.encode()).decode()
