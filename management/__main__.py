"""The management stack: every silo tenant's AWS account, in the management account.

Its config (`stacks/management/Pulumi.<stack>.yaml`) is written by `tenantctl cells vend`
from the registry: the organizational unit, the access role and the silo accounts.
"""

import pulumi
from pydantic import TypeAdapter, ValidationError

# `components` comes from the project installed in the virtualenv (`make setup`).
from components.silo import SiloAccount, SiloAccountArgs, SiloAccountSpec

config = pulumi.Config()
try:
    accounts = TypeAdapter(list[SiloAccountSpec]).validate_python(
        config.get_object("siloAccounts") or []
    )
except ValidationError as error:
    raise pulumi.RunError(f"invalid siloAccounts: {error}") from None

for spec in accounts:
    silo = SiloAccount(
        f"silo-{spec.tenant_id}",
        SiloAccountArgs(
            account=spec,
            role_name=config.get("accessRole") or "OrganizationAccountAccessRole",
            parent_id=config.get("organizationalUnit") or None,
        ),
    )
    pulumi.export(f"{spec.tenant_id}_account_id", silo.account_id)
    pulumi.export(f"{spec.tenant_id}_access_role_arn", silo.access_role_arn)
