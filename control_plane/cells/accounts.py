"""Silo accounts: a tenant's own AWS account, vended through AWS Organizations.

`CreateAccount` starts the request; `DescribeCreateAccountStatus` is polled until AWS
reports the account (or why it failed); the account is then moved into the silo
organizational unit. Nothing here ever closes an account: a retired silo tenant's account
is listed as retained, like its data stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from control_plane.cells.quotas import CellAccess


class AccountVendingError(RuntimeError):
    """Organizations refused or failed the account; the message carries AWS's reason."""


@dataclass(frozen=True)
class SiloRequest:
    """What a silo account is created with."""

    tenant_id: str
    email: str
    """The account's root e-mail address (unique across AWS)."""
    role_name: str
    """The access role Organizations creates in the account for the control plane."""
    organizational_unit: str | None
    """Where the account is moved to; the organization's root when `None`."""


def vend_account(
    organizations: Any,
    request: SiloRequest,
    *,
    timeout_seconds: float = 900.0,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CellAccess:
    """Create the tenant's account and return how the control plane reaches it."""
    try:
        started = organizations.create_account(
            Email=request.email,
            AccountName=f"tenants-{request.tenant_id}",
            RoleName=request.role_name,
            IamUserAccessToBilling="DENY",
            Tags=[
                {"Key": "tenant", "Value": request.tenant_id},
                {"Key": "managed-by", "Value": "tenants-platform"},
            ],
        )["CreateAccountStatus"]
        status = _wait(organizations, started, timeout_seconds, poll_seconds, sleep)
        account_id = str(status["AccountId"])
        if request.organizational_unit:
            root = organizations.list_parents(ChildId=account_id)["Parents"][0]["Id"]
            if root != request.organizational_unit:
                organizations.move_account(
                    AccountId=account_id,
                    SourceParentId=root,
                    DestinationParentId=request.organizational_unit,
                )
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise AccountVendingError(
            f"AWS Organizations refused the account of {request.tenant_id!r}: "
            f"{detail.get('Code', 'error')}: {detail.get('Message', '')}"
        ) from None
    except BotoCoreError as error:
        raise AccountVendingError(f"AWS Organizations could not be reached: {error}") from None
    return CellAccess(
        account_id=account_id, role_arn=f"arn:aws:iam::{account_id}:role/{request.role_name}"
    )


def _wait(
    organizations: Any,
    status: dict[str, Any],
    timeout_seconds: float,
    poll_seconds: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while status.get("State") == "IN_PROGRESS":
        if time.monotonic() >= deadline:
            raise AccountVendingError(
                f"account request {status.get('Id')} still in progress after "
                f"{timeout_seconds:g} s; it continues in AWS Organizations (see "
                "`aws organizations describe-create-account-status`)"
            )
        sleep(poll_seconds)
        status = organizations.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
    if status.get("State") != "SUCCEEDED":
        raise AccountVendingError(
            f"account request {status.get('Id')} failed: {status.get('FailureReason', 'unknown')}"
        )
    return status
