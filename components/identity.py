"""`TenantIdentity`: permission boundary, workload role, optional operator role, tenant secret.

Every Allow names only the tenant's own resources: its buckets, key, table, secret and
log groups. No statement uses a `*` resource, so one tenant's workload can never reach
another tenant's data even if both live in the same account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi import ResourceOptions

from components.spec import OperatorAccess

_VERSION = "2012-10-17"


@dataclass
class TenantIdentityArgs:
    """Inputs of `TenantIdentity`."""

    tenant_id: str
    """Tenant slug, for names and scoped ARNs."""
    region: str
    """Region of the tenant's log groups and secret."""
    account_id: pulumi.Input[str]
    """AWS account hosting the bundle."""
    key_arn: pulumi.Input[str]
    """Tenant KMS key (data, secret and EBS encryption)."""
    bucket_arns: pulumi.Input[dict[str, str]]
    """The tenant's bucket ARNs by role."""
    table_arn: pulumi.Input[str | None]
    """The tenant's table ARN, if it has one."""
    operator: OperatorAccess | None = None
    """Customer account allowed to assume a read-only operator role."""


class TenantIdentity(pulumi.ComponentResource):
    """Least-privilege roles bounded by a tenant-scoped permission boundary."""

    boundary_arn: pulumi.Output[str]
    workload_role_arn: pulumi.Output[str]
    instance_profile_arn: pulumi.Output[str]
    operator_role_arn: pulumi.Output[str | None]
    secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantIdentityArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantIdentity", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)

        secret = self._create_secret()
        scope = pulumi.Output.all(
            account=args.account_id,
            key=args.key_arn,
            buckets=args.bucket_arns,
            table=args.table_arn,
            secret=secret.arn,
        )
        boundary = aws.iam.Policy(
            f"{name}-boundary",
            name=f"tenant-{args.tenant_id}-boundary",
            description=f"Upper bound of every role of tenant {args.tenant_id}",
            policy=scope.apply(lambda s: json.dumps(_boundary_document(args, s))),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-workload-role",
            name=f"tenant-{args.tenant_id}-workload",
            assume_role_policy=json.dumps(_trust({"Service": "ec2.amazonaws.com"})),
            permissions_boundary=boundary.arn,
            max_session_duration=3600,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-workload-policy",
            role=role.id,
            policy=scope.apply(lambda s: json.dumps(_workload_document(args, s))),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-instance-profile",
            name=f"tenant-{args.tenant_id}-workload",
            role=role.name,
            opts=child,
        )
        operator_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.operator is not None:
            operator_arn = self._create_operator_role(args.operator, boundary, scope).arn

        self.boundary_arn = boundary.arn
        self.workload_role_arn = role.arn
        self.instance_profile_arn = profile.arn
        self.operator_role_arn = operator_arn
        self.secret_arn = secret.arn
        self.register_outputs(
            {
                "boundary_arn": self.boundary_arn,
                "workload_role_arn": self.workload_role_arn,
                "instance_profile_arn": self.instance_profile_arn,
                "operator_role_arn": self.operator_role_arn,
                "secret_arn": self.secret_arn,
            }
        )

    def _create_secret(self) -> aws.secretsmanager.Secret:
        args = self._args
        child = ResourceOptions(parent=self)
        value = random.RandomPassword(
            f"{self._name}-secret-value", length=40, special=False, opts=child
        )
        secret = aws.secretsmanager.Secret(
            f"{self._name}-secret",
            name=f"tenants/{args.tenant_id}/app",
            description=f"Application secret of tenant {args.tenant_id}",
            kms_key_id=args.key_arn,
            recovery_window_in_days=30,
            opts=ResourceOptions(parent=self, protect=True),
        )
        aws.secretsmanager.SecretVersion(
            f"{self._name}-secret-version",
            secret_id=secret.id,
            secret_string=value.result,
            opts=child,
        )
        return secret

    def _create_operator_role(
        self, operator: OperatorAccess, boundary: aws.iam.Policy, scope: pulumi.Output[Any]
    ) -> aws.iam.Role:
        args = self._args
        trust = _trust(
            {"AWS": f"arn:aws:iam::{operator.account_id}:root"},
            condition={"StringEquals": {"sts:ExternalId": operator.external_id}},
        )
        role = aws.iam.Role(
            f"{self._name}-operator-role",
            name=f"tenant-{args.tenant_id}-operator",
            assume_role_policy=json.dumps(trust),
            permissions_boundary=boundary.arn,
            max_session_duration=3600,
            opts=ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{self._name}-operator-policy",
            role=role.id,
            policy=scope.apply(lambda s: json.dumps(_operator_document(s))),
            opts=ResourceOptions(parent=self),
        )
        return role


def _trust(principal: dict[str, str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": _VERSION, "Statement": [statement]}


def _bucket_resources(buckets: dict[str, str]) -> list[str]:
    return [r for arn in buckets.values() for r in (arn, f"{arn}/*")]


def _log_groups(args: TenantIdentityArgs, account: str) -> list[str]:
    base = f"arn:aws:logs:{args.region}:{account}:log-group:/tenants/{args.tenant_id}/"
    return [f"{base}*"]


def _workload_document(args: TenantIdentityArgs, s: dict[str, Any]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "TenantBuckets",
            "Effect": "Allow",
            "Action": [
                "s3:ListBucket",
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:GetObjectVersion",
            ],
            "Resource": _bucket_resources(s["buckets"]),
        },
        {
            "Sid": "TenantKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": [s["key"]],
        },
        {
            "Sid": "TenantSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": [s["secret"]],
        },
        {
            "Sid": "TenantLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _log_groups(args, s["account"]),
        },
    ]
    if s["table"]:
        statements.append(
            {
                "Sid": "TenantTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                ],
                "Resource": [s["table"], f"{s['table']}/index/*"],
            }
        )
    return {"Version": _VERSION, "Statement": statements}


def _operator_document(s: dict[str, Any]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTenantBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetObject", "s3:GetBucketLocation"],
            "Resource": _bucket_resources(s["buckets"]),
        },
        {
            "Sid": "DecryptWithTenantKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": [s["key"]],
        },
    ]
    if s["table"]:
        statements.append(
            {
                "Sid": "ReadTenantTable",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"],
                "Resource": [s["table"]],
            }
        )
    return {"Version": _VERSION, "Statement": statements}


def _boundary_document(args: TenantIdentityArgs, s: dict[str, Any]) -> dict[str, Any]:
    """The union of what any tenant role may ever do, all on the tenant's own ARNs."""
    resources = [
        *_bucket_resources(s["buckets"]),
        s["key"],
        s["secret"],
        *_log_groups(args, s["account"]),
    ]
    if s["table"]:
        resources += [s["table"], f"{s['table']}/index/*"]
    return {
        "Version": _VERSION,
        "Statement": [
            {
                "Sid": "TenantResourcesOnly",
                "Effect": "Allow",
                "Action": [
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DescribeTable",
                ],
                "Resource": resources,
            }
        ],
    }
