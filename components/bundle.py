"""`ServiceBundle`: one tenant's complete AWS service bundle, built from its `TenantSpec`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.alarms import TenantAlarms, TenantAlarmsArgs
from components.compute import TenantCompute, TenantComputeArgs
from components.connectivity import TenantConnectivity, TenantConnectivityArgs
from components.endpoint import TenantEndpoint, TenantEndpointArgs
from components.identity import TenantIdentity, TenantIdentityArgs
from components.mail import TenantMail, TenantMailArgs
from components.network import TenantNetwork, TenantNetworkArgs
from components.plans import get_plan
from components.spec import TenantSpec
from components.stack_config import role_session_name
from components.storage import LOAD_BALANCER_LOG_PREFIX, TenantStorage, TenantStorageArgs
from components.telephony import TenantTelephony, TenantTelephonyArgs

SANDBOX_SERVICES = (
    "acm", "autoscaling", "budgets", "cloudwatch", "cloudwatchlogs", "connect", "dynamodb", "ec2",
    "elbv2", "events", "iam", "kms", "route53", "s3", "secretsmanager", "sesv2", "sns", "ssm",
    "sts", "wafv2",
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
    """Network, storage, identity, compute, alarms and add-ons of one tenant, in its own
    provider."""

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
    endpoint_url: pulumi.Output[str | None]
    phone_numbers: pulumi.Output[list[str]]
    vpn_connection_ids: pulumi.Output[dict[str, str]]
    mail_configuration_set: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: ServiceBundleArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:ServiceBundle", name, None, opts)
        spec = args.spec
        addons = spec.addons
        voicemail = addons.telephony is not None and addons.telephony.voicemail
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
                load_balancer_logs=addons.endpoint is not None,
                event_notifications=voicemail,
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
                public_endpoint=addons.endpoint is not None,
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
                **_service_level_alarms(spec),
                event_notifications=voicemail,
            ),
            child,
        )
        endpoint = (
            TenantEndpoint(
                f"{name}-endpoint",
                TenantEndpointArgs(
                    tenant_id=spec.tenant_id,
                    vpc_id=network.vpc_id,
                    public_subnet_ids=network.public_subnet_ids,
                    app_security_group_id=network.app_security_group_id,
                    autoscaling_group_name=compute.autoscaling_group_name,
                    domain=spec.endpoint_domain,
                    zone=spec.endpoint_zone,
                    health_check_path=addons.endpoint.health_check_path,
                    access_log_bucket=storage.access_log_bucket_name.apply(_log_bucket),
                    access_log_prefix=LOAD_BALANCER_LOG_PREFIX,
                    waf_rate_limit=spec.endpoint_rate_limit,
                    redirect_http=addons.endpoint.redirect_http,
                ),
                child,
            )
            if addons.endpoint is not None
            else None
        )
        # Voicemail goes to the tenant's first bucket (its main data bucket).
        voicemail_role = spec.storage.buckets[0].role
        telephony = (
            TenantTelephony(
                f"{name}-telephony",
                TenantTelephonyArgs(
                    tenant_id=spec.tenant_id,
                    display_name=spec.display_name or spec.tenant_id,
                    telephony=addons.telephony,
                    key_arn=storage.key_arn,
                    voicemail_bucket=storage.bucket_names.apply(lambda b: b[voicemail_role]),
                    alarm_topic_arn=alarms.topic_arn,
                ),
                child,
            )
            if addons.telephony is not None
            else None
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
        connectivity = (
            TenantConnectivity(
                f"{name}-connectivity",
                TenantConnectivityArgs(
                    tenant_id=spec.tenant_id,
                    vpc_id=network.vpc_id,
                    private_route_table_ids=network.private_route_table_ids,
                    route_table_count=spec.effective_az_count,
                    sites=addons.connectivity.sites,
                    alarm_topic_arn=alarms.topic_arn,
                ),
                child,
            )
            if addons.connectivity is not None
            else None
        )

        mail_quota = spec.mail_daily_quota
        mail = (
            TenantMail(
                f"{name}-mail",
                TenantMailArgs(
                    tenant_id=spec.tenant_id,
                    domain=spec.mail_domain,
                    zone=spec.mail_zone,
                    daily_quota=mail_quota,
                    quota_alarm_percent=addons.mail.quota_alarm_percent,
                    alarm_topic_arn=alarms.topic_arn,
                    region=spec.region,
                    account_id=account_id,
                    key_arn=storage.key_arn,
                    log_retention_days=spec.log_retention_days,
                ),
                child,
            )
            if addons.mail is not None and mail_quota is not None
            else None
        )

        self.endpoint_url = endpoint.url if endpoint is not None else pulumi.Output.from_input(None)
        self.phone_numbers = (
            telephony.phone_numbers if telephony is not None else pulumi.Output.from_input([])
        )
        self.vpn_connection_ids = (
            connectivity.vpn_connection_ids
            if connectivity is not None
            else pulumi.Output.from_input({})
        )
        self.mail_configuration_set = (
            mail.configuration_set_name if mail is not None else pulumi.Output.from_input(None)
        )
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
            "endpoint_url": self.endpoint_url,
            "phone_numbers": self.phone_numbers,
            "vpn_connection_ids": self.vpn_connection_ids,
            "mail_configuration_set": self.mail_configuration_set,
        }


def _log_bucket(name: str | None) -> str:
    # The spec admits an endpoint only on plans whose storage has a log bucket.
    if name is None:
        raise ValueError("a public endpoint needs the tenant's access-log bucket")
    return name


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


def _service_level_alarms(spec: TenantSpec) -> dict[str, int]:
    """Alarm settings that follow from the plan's service level (none for best effort)."""
    level = get_plan(spec.plan).service_level
    return {} if level is None else {"capacity_low_minutes": level.detection_minutes}
