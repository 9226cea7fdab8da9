"""The service quotas a bundle consumes, and reading their values from a cell's account.

Values come from Service Quotas (`GetServiceQuota`, the applied value; for a quota never
changed in the account, `GetAWSDefaultServiceQuota`). Reading happens in the cell's own
account, through the cell's role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from planner.quotas import ACCOUNT_SCOPE, QUOTAS, Quota, Scope

GLOBAL_QUOTA_REGION = "us-east-1"
"""Where Service Quotas answers for account-wide services (IAM, S3 bucket count)."""


class QuotaReadError(RuntimeError):
    """A quota could not be read from the cell's account; the message says which and why."""


@dataclass(frozen=True)
class CellAccess:
    """How the control plane reaches a cell's account."""

    account_id: str
    role_arn: str
    external_id: str | None = None


SessionFactory = Callable[[CellAccess], boto3.Session]
"""A boto3 session with credentials in the cell's account."""


def assume_cell_role(
    access: CellAccess, *, base: boto3.Session | None = None, session_name: str = "tenants-cells"
) -> boto3.Session:
    """A session in the cell's account, through its role (the ambient credentials ask STS)."""
    sts = (base or boto3.Session()).client("sts", region_name=GLOBAL_QUOTA_REGION)
    request: dict[str, Any] = {"RoleArn": access.role_arn, "RoleSessionName": session_name}
    if access.external_id:
        request["ExternalId"] = access.external_id
    try:
        credentials = sts.assume_role(**request)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise QuotaReadError(f"cannot assume {access.role_arn}: {_reason(error)}") from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def read_quotas(
    session: boto3.Session, regions: Iterable[str], quotas: Iterable[Quota] = QUOTAS
) -> dict[str, dict[str, float]]:
    """`{region: {key: value}, "account": {key: value}}` for every quota, read in `session`."""
    wanted = list(quotas)
    table: dict[str, dict[str, float]] = {}
    account_wide = [q for q in wanted if q.scope is Scope.ACCOUNT]
    if account_wide:
        client = session.client("service-quotas", region_name=GLOBAL_QUOTA_REGION)
        table[ACCOUNT_SCOPE] = {q.key: _value(client, q, GLOBAL_QUOTA_REGION) for q in account_wide}
    for region in regions:
        client = session.client("service-quotas", region_name=region)
        table[region] = {
            q.key: _value(client, q, region) for q in wanted if q.scope is not Scope.ACCOUNT
        }
    return table


def _value(client: Any, quota: Quota, region: str) -> float:
    codes = {"ServiceCode": quota.service_code, "QuotaCode": quota.quota_code}
    try:
        try:
            answer = client.get_service_quota(**codes)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
            # Never changed in this account: the AWS default applies.
            answer = client.get_aws_default_service_quota(**codes)
        return float(answer["Quota"]["Value"])
    except (ClientError, BotoCoreError, KeyError, TypeError, ValueError) as error:
        raise QuotaReadError(
            f"cannot read quota {quota.title!r} ({quota.service_code} {quota.quota_code}) in "
            f"{region}: {_reason(error)}"
        ) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": ")
    return str(error) or type(error).__name__
