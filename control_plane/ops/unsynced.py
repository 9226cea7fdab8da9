"""The gate's finding that needs the registry: a registered tenant's stack file edited by
hand and not yet synced, so what the gate checks is not what the worker deploys.

The offline gate (`policies/`) never imports the control plane; `tenantctl check` calls
this when a registry is configured (`TENANTS_DATABASE_URL`, or the default SQLite file
exists) and adds the findings to the tenants' reports like the other fleet findings.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from components.stack_config import InvalidStackError
from control_plane.ops.health import changed_fields
from control_plane.registry.database import open_database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant
from control_plane.registry.repository import Registry
from control_plane.settings import Settings
from planner.stacks import StackFiles, UnknownTenantError
from policies.fleet import UNSYNCED_STACK
from policies.gate import Finding

MAX_FIELDS = 8


def unsynced_stack_findings(
    settings: Settings, stacks: StackFiles, selected: Sequence[str]
) -> list[Finding]:
    """A finding for each selected, registered, not retired tenant whose stack file holds a
    valid spec other than the registry's desired one. Raises `RegistryUnavailableError`."""
    if not settings.registry_configured or not selected:
        return []
    database = open_database(settings.registry_url)
    try:
        with database.transaction() as session:
            registry = Registry(session)
            tenants = session.scalars(
                select(Tenant)
                .where(Tenant.id.in_(list(selected)), Tenant.state != TenantState.RETIRED.value)
                .order_by(Tenant.id)
            ).all()
            findings = []
            for tenant in tenants:
                desired = registry.spec(tenant.id)
                try:
                    on_disk = stacks.read_spec(tenant.id)
                except (UnknownTenantError, InvalidStackError):
                    continue  # a missing or invalid file is another check's finding
                if on_disk == desired:
                    continue
                fields = changed_fields(
                    desired.model_dump(mode="json"), on_disk.model_dump(mode="json")
                )
                findings.append(
                    UNSYNCED_STACK.finding(
                        tenant.id,
                        f"stack file differs from the registry's desired spec "
                        f"v{tenant.spec_version} in {', '.join(fields[:MAX_FIELDS])} and is "
                        f"not synced: the worker deploys the registry's spec; `tenantctl sync "
                        f"{tenant.id}` takes the edit in",
                        resource=stacks.path(tenant.id).name,
                    )
                )
            return findings
    finally:
        database.dispose()
