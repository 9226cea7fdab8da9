"""`ServiceBundle`: one tenant's complete AWS service bundle, built from its `TenantSpec`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.alarms import TenantAlarms, TenantAlarmsArgs
from components.compute import TenantCompute, TenantComputeArgs
from components.identity import TenantIdentity, TenantIdentityArgs
from components.network import TenantNetwork, TenantNetworkArgs
from components.spec import TenantSpec
from components.stack_config import role_session_name
from components.storage import TenantStorage, TenantStorageArgs

SANDBOX_SERVICES = (
    "autoscaling", "budgets", "cloudwatch", "cloudwatchlogs", "dynamodb", "ec2", "iam", "kms",
    "s3", "secretsmanager", "sns", "ssm", "sts",
)  # fmt: skip
"""Services the bundle calls; all are pointed at the sandbox endpoint when one is set."""


@dataclass
class ServiceBundleArgs:
    """Inputs of `ServiceBundle`."""

    spec: TenantSpec
    """The validated tenant contract."""
    aws_endpoint: str | None = None
    """Local AWS endpoint (the moto sandbox); `None` for real AWS."""
    role_session_name: str | None = None
    """Session name for the cell's role (names the tenant and the job); a default otherwise."""


class ServiceBundle(pulumi.ComponentResource):
    """Network, storage, identity, compute and alarms of one tenant, in its own provider."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    key_arn: pulumi.Output[str]
    bucket_names: pulumi.Output[dict[str, str]]
    table_name: pulumi.Output[str | None]
    workload_role_arn: pulumi.Output[str]
    operator_role_arn: pulumi.Output[str | None]
    secret_arn: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceBundleArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:ServiceBundle", name, None, opts)
        spec = args.spec
        provider = _tenant_provider(
            name,
            spec,
            args.aws_endpoint,
            args.role_session_name or role_session_name(spec.tenant_id),
            ResourceOptions(parent=self),
        )
        # Children inherit the tenant provider, so its default tags reach every resource.
        child = ResourceOptions(parent=self, providers={"aws": provider})
        # A placed tenant's account is its cell's; only an unplaced one asks STS.
        account_id: pulumi.Output[str] = (
            pulumi.Output.from_input(spec.cell.account_id)
            if spec.cell is not None
            else aws.get_caller_identity_output(
                opts=pulumi.InvokeOutputOptions(provider=provider, parent=self)
            ).account_id
        )

        storage = TenantStorage(
            f"{name}-storage",
            TenantStorageArgs(
                tenant_id=spec.tenant_id,
                region=spec.region,
                account_id=account_id,
                buckets=spec.storage.buckets,
                retention_days=spec.effective_retention_days,
                access_logs=spec.access_logs,
                table=spec.storage.table,
            ),
            child,
        )
        identity = TenantIdentity(
            f"{name}-identity",
            TenantIdentityArgs(
                tenant_id=spec.tenant_id,
                region=spec.region,
                account_id=account_id,
                key_arn=storage.key_arn,
                bucket_arns=storage.bucket_arns,
                table_arn=storage.table_arn,
                operator=spec.operator,
            ),
            child,
        )
        network = TenantNetwork(
            f"{name}-network",
            TenantNetworkArgs(
                tenant_id=spec.tenant_id,
                region=spec.region,
                account_id=account_id,
                cidr=spec.network.cidr,
                az_count=spec.effective_az_count,
                nat=spec.effective_nat,
                flow_log_retention_days=spec.log_retention_days,
                kms_key_arn=storage.key_arn,
                permissions_boundary_arn=identity.boundary_arn,
                ingress=spec.network.ingress,
            ),
            child,
        )
        min_size, desired, max_size = spec.effective_capacity
        compute = TenantCompute(
            f"{name}-compute",
            TenantComputeArgs(
                tenant_id=spec.tenant_id,
                instance_type=spec.effective_instance_type,
                min_size=min_size,
                desired_capacity=desired,
                max_size=max_size,
                cpu_target_percent=spec.compute.cpu_target_percent,
                volume_size_gb=spec.compute.volume_size_gb,
                subnet_ids=network.private_subnet_ids,
                security_group_id=network.app_security_group_id,
                instance_profile_arn=identity.instance_profile_arn,
                key_arn=storage.key_arn,
                secret_arn=identity.secret_arn,
                tags=spec.platform_tags,
                # A suspended tenant must stay at zero: schedules would scale it back up.
                schedules=() if spec.suspended else spec.compute.schedules,
            ),
            child,
        )
        alarms = TenantAlarms(
            f"{name}-alarms",
            TenantAlarmsArgs(
                tenant_id=spec.tenant_id,
                region=spec.region,
                account_id=account_id,
                key_arn=storage.key_arn,
                autoscaling_group_name=compute.autoscaling_group_name,
                min_size=min_size,
                max_size=max_size,
                bucket_names=storage.bucket_names,
                quota_gb=spec.effective_quota_gb,
                storage_quota_percent=spec.alarms.storage_quota_percent,
                cpu_high_percent=spec.alarms.cpu_high_percent,
                budget_usd=spec.effective_budget_usd,
                contacts=tuple(str(c) for c in spec.alarms.contacts),
            ),
            child,
        )

        self.vpc_id = network.vpc_id
        self.private_subnet_ids = network.private_subnet_ids
        self.public_subnet_ids = network.public_subnet_ids
        self.key_arn = storage.key_arn
        self.bucket_names = storage.bucket_names
        self.table_name = storage.table_name
        self.workload_role_arn = identity.workload_role_arn
        self.operator_role_arn = identity.operator_role_arn
        self.secret_arn = identity.secret_arn
        self.autoscaling_group_name = compute.autoscaling_group_name
        self.alarm_topic_arn = alarms.topic_arn
        self.dashboard_name = alarms.dashboard_name
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Output[object]]:
        """What an operator needs to find the tenant's resources, by export name."""
        return {
            "vpc_id": self.vpc_id,
            "private_subnet_ids": self.private_subnet_ids,
            "public_subnet_ids": self.public_subnet_ids,
            "key_arn": self.key_arn,
            "bucket_names": self.bucket_names,
            "table_name": self.table_name,
            "workload_role_arn": self.workload_role_arn,
            "operator_role_arn": self.operator_role_arn,
            "secret_arn": self.secret_arn,
            "autoscaling_group_name": self.autoscaling_group_name,
            "alarm_topic_arn": self.alarm_topic_arn,
            "dashboard_name": self.dashboard_name,
        }


def _tenant_provider(
    name: str, spec: TenantSpec, endpoint: str | None, session_name: str, opts: ResourceOptions
) -> aws.Provider:
    # With a sandbox endpoint every service points at moto and no real account is asked for.
    sandbox = endpoint is not None
    cell = spec.cell
    return aws.Provider(
        f"{name}-aws",
        aws.ProviderArgs(
            region=spec.region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=spec.platform_tags),
            # The control plane's credentials reach the tenant's account only through the
            # cell's role; ambient credentials serve an unplaced tenant.
            assume_roles=(
                [
                    aws.ProviderAssumeRoleArgs(
                        role_arn=cell.role_arn,
                        external_id=cell.external_id,
                        session_name=session_name,
                    )
                ]
                if cell is not None
                else None
            ),
            endpoints=(
                [aws.ProviderEndpointArgs(**dict.fromkeys(SANDBOX_SERVICES, endpoint))]
                if sandbox
                else None
            ),
            access_key="sandbox" if sandbox else None,
            secret_key="sandbox" if sandbox else None,
            skip_credentials_validation=True if sandbox else None,
            skip_metadata_api_check=True if sandbox else None,
            skip_requesting_account_id=True if sandbox else None,
            skip_region_validation=True if sandbox else None,
            s3_use_path_style=True if sandbox else None,
        ),
        opts,
    )
