"""`SiloAccount`: a silo tenant's own AWS account in AWS Organizations, as code.

The management stack (`management/__main__.py`) declares one per silo tenant. The control
plane vends the account first (so the tenant can be placed at once) and the stack adopts
it by import; an account declared without an id is created by `pulumi up` instead. Either
way the account is protected and kept when it leaves the stack: retiring a tenant never
closes its account.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from components.spec import MANAGED_BY, TenantId


class SiloAccountSpec(BaseModel):
    """One silo account as the management stack's config lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    tenant_id: TenantId
    """The silo tenant the account belongs to."""
    email: EmailStr
    """The account's root e-mail address."""
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    """The vended account's id, imported into the stack; `None` creates the account."""


@dataclass
class SiloAccountArgs:
    """Inputs of `SiloAccount`."""

    account: SiloAccountSpec
    """Which account, for which tenant."""
    role_name: str
    """The access role Organizations creates in the account for the control plane."""
    parent_id: str | None = None
    """The organizational unit of silo accounts; the organization's root when `None`."""


class SiloAccount(pulumi.ComponentResource):
    """A member account of the organization, kept (never closed) when removed."""

    account_id: pulumi.Output[str]
    access_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SiloAccountArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:SiloAccount", name, None, opts)
        spec = args.account
        account = aws.organizations.Account(
            f"{name}-account",
            name=f"tenants-{spec.tenant_id}",
            email=str(spec.email),
            parent_id=args.parent_id,
            role_name=args.role_name,
            iam_user_access_to_billing="DENY",
            close_on_deletion=False,
            tags={"tenant": spec.tenant_id, "managed-by": MANAGED_BY},
            opts=ResourceOptions(
                parent=self,
                protect=True,
                retain_on_delete=True,
                import_=spec.account_id,
                # Organizations never reads these back, so an imported account would
                # otherwise always show a change.
                ignore_changes=["roleName", "iamUserAccessToBilling"],
            ),
        )
        self.account_id = account.id
        self.access_role_arn = account.id.apply(
            lambda account_id: f"arn:aws:iam::{account_id}:role/{args.role_name}"
        )
        self.register_outputs(
            {"account_id": self.account_id, "access_role_arn": self.access_role_arn}
        )
