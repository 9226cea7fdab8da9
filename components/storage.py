"""`TenantStorage`: the tenant KMS key, its buckets and the optional DynamoDB table."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi import ResourceOptions

from components.names import alarm_topic_name, budget_arn, tenant_event_rule_arns
from components.spec import BucketSpec, TableSpec


@dataclass
class TenantStorageArgs:
    """Inputs of `TenantStorage`."""

    tenant_id: str
    """Tenant slug, for names."""
    region: str
    """Region of the key (service principals in its policy are regional)."""
    account_id: pulumi.Input[str]
    """AWS account hosting the bundle (key policy principals)."""
    buckets: tuple[BucketSpec, ...]
    """Buckets to create."""
    retention_days: int
    """Days noncurrent versions and access logs are kept."""
    access_logs: bool
    """Whether buckets log access to a dedicated log bucket."""
    table: TableSpec | None = None
    """Optional DynamoDB table."""
    load_balancer_logs: bool = False
    """Whether the tenant's load balancer writes access logs to the log bucket."""
    event_notifications: bool = False
    """Whether the tenant's EventBridge rules publish to topics encrypted with the key."""


class TenantStorage(pulumi.ComponentResource):
    """Encrypted, private, versioned buckets and table, protected against deletion."""

    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    bucket_names: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    access_log_bucket_name: pulumi.Output[str | None]
    table_name: pulumi.Output[str | None]
    table_arn: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: TenantStorageArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantStorage", name, None, opts)
        self._name = name
        self._args = args

        key = self._create_key()
        log_bucket = self._create_access_log_bucket() if args.access_logs else None
        buckets = {b.role: self._create_bucket(b, key, log_bucket) for b in args.buckets}
        if log_bucket is not None:
            self._allow_access_log_delivery(log_bucket, list(buckets.values()))
        table = self._create_table(args.table, key) if args.table is not None else None

        self.key_arn = key.arn
        self.key_id = key.key_id
        self.bucket_names = pulumi.Output.all(
            **{role: b.bucket for role, b in buckets.items()}
        ).apply(dict)
        self.bucket_arns = pulumi.Output.all(**{role: b.arn for role, b in buckets.items()}).apply(
            dict
        )
        self.access_log_bucket_name = (
            log_bucket.bucket if log_bucket is not None else pulumi.Output.from_input(None)
        )
        self.table_name = table.name if table is not None else pulumi.Output.from_input(None)
        self.table_arn = table.arn if table is not None else pulumi.Output.from_input(None)
        self.register_outputs(
            {
                "key_arn": self.key_arn,
                "key_id": self.key_id,
                "bucket_names": self.bucket_names,
                "bucket_arns": self.bucket_arns,
                "access_log_bucket_name": self.access_log_bucket_name,
                "table_name": self.table_name,
                "table_arn": self.table_arn,
            }
        )

    def _create_key(self) -> aws.kms.Key:
        args = self._args
        key = aws.kms.Key(
            f"{self._name}-key",
            description=f"Data key of tenant {args.tenant_id}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(
                    _key_policy(args.tenant_id, args.region, account, args.event_notifications)
                )
            ),
            opts=ResourceOptions(parent=self, protect=True),
        )
        aws.kms.Alias(
            f"{self._name}-key-alias",
            name=f"alias/tenants/{args.tenant_id}",
            target_key_id=key.key_id,
            opts=ResourceOptions(parent=self),
        )
        return key

    def _bucket_name(self, role: str) -> pulumi.Output[str]:
        # A random suffix keeps names globally unique and unguessable across tenants.
        suffix = random.RandomId(
            f"{self._name}-{role}-suffix", byte_length=4, opts=ResourceOptions(parent=self)
        )
        return suffix.hex.apply(lambda h: f"{self._args.tenant_id}-{role}-{h}")

    def _create_access_log_bucket(self) -> aws.s3.Bucket:
        name = f"{self._name}-access-logs"
        child = ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            name,
            bucket=self._bucket_name("access-logs"),
            tags={"purpose": "access-logs"},
            opts=ResourceOptions(parent=self, protect=True),
        )
        # S3 server access logging can only deliver to SSE-S3 buckets, not SSE-KMS ones.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        self._lock_down(name, bucket)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": self._args.retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                }
            ],
            opts=child,
        )
        return bucket

    def _allow_access_log_delivery(
        self, log_bucket: aws.s3.Bucket, sources: list[aws.s3.Bucket]
    ) -> None:
        # Naming the source buckets, not only the account: in a pooled account another
        # tenant's buckets could otherwise log into this one.
        aws.s3.BucketPolicy(
            f"{self._name}-access-logs-policy",
            bucket=log_bucket.id,
            policy=pulumi.Output.all(
                log_bucket.arn, self._args.account_id, pulumi.Output.all(*[b.arn for b in sources])
            ).apply(
                lambda a: json.dumps(
                    _log_bucket_policy(
                        a[0],
                        a[1],
                        a[2],
                        self._args.region if self._args.load_balancer_logs else None,
                    )
                )
            ),
            opts=ResourceOptions(parent=self),
        )

    def _create_bucket(
        self, spec: BucketSpec, key: aws.kms.Key, log_bucket: aws.s3.Bucket | None
    ) -> aws.s3.Bucket:
        name = f"{self._name}-{spec.role}"
        child = ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            name,
            bucket=self._bucket_name(spec.role),
            tags={"purpose": spec.role},
            opts=ResourceOptions(parent=self, protect=True),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    # Bucket keys cut KMS request costs by ~99% for busy buckets.
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        self._lock_down(name, bucket)
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled" if spec.versioning else "Suspended"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": self._args.retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(_tls_only_policy(arn))),
            opts=child,
        )
        if log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket.id,
                target_bucket=log_bucket.id,
                target_prefix=f"{spec.role}/",
                opts=child,
            )
        return bucket

    def _lock_down(self, name: str, bucket: aws.s3.Bucket) -> None:
        child = ResourceOptions(parent=self)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )

    def _create_table(self, spec: TableSpec, key: aws.kms.Key) -> aws.dynamodb.Table:
        attributes = [aws.dynamodb.TableAttributeArgs(name=spec.hash_key, type="S")]
        if spec.range_key:
            attributes.append(aws.dynamodb.TableAttributeArgs(name=spec.range_key, type="S"))
        return aws.dynamodb.Table(
            f"{self._name}-table",
            name=f"tenant-{self._args.tenant_id}",
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.hash_key,
            range_key=spec.range_key,
            attributes=attributes,
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=key.arn
            ),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            opts=ResourceOptions(parent=self, protect=True),
        )


def _deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _tls_only_policy(bucket_arn: str) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": [_deny_insecure_transport(bucket_arn)]}


LOAD_BALANCER_LOG_PREFIX = "endpoint"
"""Where in the log bucket the tenant's load balancer writes its access logs."""

ELB_LOG_DELIVERY_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
}
"""Elastic Load Balancing's log-writing account per region: AWS-owned, and the principal
access-log bucket policies name (regions opened before August 2022 take the account, not the
log-delivery service principal). The policy pack trusts them for that one grant."""


def _load_balancer_logs(bucket_arn: str, account_id: str, region: str) -> dict[str, object]:
    return {
        "Sid": "AllowLoadBalancerAccessLogs",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ELB_LOG_DELIVERY_ACCOUNTS[region]}:root"},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/{LOAD_BALANCER_LOG_PREFIX}/AWSLogs/{account_id}/*",
    }


def _log_bucket_policy(
    bucket_arn: str,
    account_id: str,
    source_arns: list[str],
    load_balancer_region: str | None = None,
) -> dict[str, object]:
    """TLS only, S3 server access logs from the tenant's `source_arns` buckets, and the load
    balancer's logs when it has one."""
    load_balancer = (
        [_load_balancer_logs(bucket_arn, account_id, load_balancer_region)]
        if load_balancer_region is not None
        else []
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            *load_balancer,
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "AllowS3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {"aws:SourceArn": source_arns},
                },
            },
        ],
    }


def _key_policy(
    tenant_id: str, region: str, account_id: str, event_notifications: bool = False
) -> dict[str, object]:
    """Account administration, plus the AWS services that encrypt tenant data with the key."""
    root = f"arn:aws:iam::{account_id}:root"
    asg_role = (
        f"arn:aws:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    use = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
    ]
    events = [
        {
            # EventBridge rules of this tenant only (e.g. voicemail) publish to its topic.
            "Sid": "TenantEventRuleNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": tenant_event_rule_arns(tenant_id, region, account_id)}
            },
        }
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            *(events if event_notifications else []),
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "FlowLogsEncryption",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": use,
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:aws:logs:{region}:{account_id}:log-group:/tenants/{tenant_id}/*"
                        )
                    }
                },
            },
            {
                "Sid": "AlarmAndBudgetNotifications",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                # The alarms do not exist yet, so their ARNs are named by the tenant's prefix;
                # the encryption context pins the use to the tenant's own topic exactly.
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": account_id,
                        "kms:EncryptionContext:aws:sns:topicArn": (
                            f"arn:aws:sns:{region}:{account_id}:{alarm_topic_name(tenant_id)}"
                        ),
                    },
                    "ArnLike": {
                        "aws:SourceArn": [
                            f"arn:aws:cloudwatch:{region}:{account_id}:alarm:tenant-{tenant_id}-*",
                            budget_arn(tenant_id, account_id),
                        ]
                    },
                },
            },
            {
                # Auto Scaling launches instances with EBS volumes encrypted by this key.
                "Sid": "AutoScalingVolumes",
                "Effect": "Allow",
                "Principal": {"AWS": asg_role},
                "Action": [*use, "kms:CreateGrant"],
                "Resource": "*",
            },
        ],
    }
