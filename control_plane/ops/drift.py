"""`tenantctl drift`: what the last drift check of each tenant found, with what differs
between the registry, the stack file and what was last applied.

The checks themselves run as queued jobs (scheduled by long-running workers, or asked for
with `--check`); this module only reads. A drifted tenant is repaired by an `up` of its
desired spec, queued like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.ops.health import spec_drift
from control_plane.registry.database import Database
from control_plane.registry.drift import drift_finding
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant
from control_plane.registry.repository import Registry
from control_plane.registry.runs import DriftedResource
from planner.stacks import StackFiles


@dataclass(frozen=True)
class TenantDrift:
    tenant_id: str
    state: str
    checked_at: datetime | None
    """When the last drift check ran; None when none has since the last `up`."""
    mode: str | None
    """`deploy` (`preview_refresh` against the cloud) or `plan` (offline)."""
    operation_id: int | None
    """The check's operation: `tenantctl history` shows its engine lines."""
    resources: list[DriftedResource]
    differences: list[str]
    """The registry against the stack file and what was last applied."""

    @property
    def drifted(self) -> bool:
        return bool(self.resources or self.differences)


class DriftReport:
    """Reads drift for one tenant or the fleet (retired tenants have nothing to drift)."""

    def __init__(self, database: Database, stacks: StackFiles) -> None:
        self.database = database
        self.stacks = stacks

    def tenant(self, tenant_id: str) -> TenantDrift:
        with self.database.transaction() as session:
            return self._drift(session, Registry(session).tenant(tenant_id))

    def fleet(self) -> list[TenantDrift]:
        with self.database.transaction() as session:
            tenants = session.scalars(
                select(Tenant).where(Tenant.state != TenantState.RETIRED.value).order_by(Tenant.id)
            ).all()
            return [self._drift(session, tenant) for tenant in tenants]

    def _drift(self, session: Session, tenant: Tenant) -> TenantDrift:
        finding = drift_finding(session, tenant.id)
        return TenantDrift(
            tenant_id=tenant.id,
            state=tenant.state,
            checked_at=finding.checked_at if finding else None,
            mode=finding.mode.value if finding else None,
            operation_id=finding.operation_id if finding else None,
            resources=list(finding.resources) if finding else [],
            differences=spec_drift(session, tenant, self.stacks),
        )
