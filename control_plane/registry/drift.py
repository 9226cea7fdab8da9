"""Recording and reading drift checks, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from control_plane.registry.drift_models import DriftCheck
from control_plane.registry.models import utcnow
from control_plane.registry.runs import DriftedResource, RunMode, RunResult

MAX_RECORDED_RESOURCES = 500
"""A stack whose every resource drifted still records a bounded row."""


@dataclass(frozen=True)
class DriftFinding:
    """The latest drift check of one tenant, as read back."""

    tenant_id: str
    checked_at: datetime
    mode: RunMode
    spec_version: int
    job_id: int | None
    operation_id: int | None
    resources: tuple[DriftedResource, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.resources)


def record_drift(
    session: Session,
    tenant_id: str,
    result: RunResult,
    *,
    spec_version: int,
    job_id: int | None,
    operation_id: int | None,
) -> DriftCheck:
    """Replace the tenant's drift check with this result."""
    check = session.get(DriftCheck, tenant_id, with_for_update=True)
    if check is None:
        check = DriftCheck(tenant_id=tenant_id)
        session.add(check)
    check.checked_at = utcnow()
    check.mode = result.mode.value
    check.spec_version = spec_version
    check.job_id = job_id
    check.operation_id = operation_id
    check.resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "change": r.change,
            "properties": list(r.properties),
        }
        for r in result.drifted[:MAX_RECORDED_RESOURCES]
    ]
    session.flush()
    return check


def clear_drift(session: Session, tenant_id: str) -> None:
    """Forget the tenant's drift check: an `up` just put the stack back to its spec."""
    session.execute(delete(DriftCheck).where(DriftCheck.tenant_id == tenant_id))


def drift_findings(session: Session, tenant_ids: Sequence[str] | None = None) -> list[DriftFinding]:
    """The latest check of each tenant (of `tenant_ids` when given), by tenant."""
    query = select(DriftCheck).order_by(DriftCheck.tenant_id)
    if tenant_ids is not None:
        query = query.where(DriftCheck.tenant_id.in_(list(tenant_ids)))
    return [_finding(row) for row in session.scalars(query)]


def drift_finding(session: Session, tenant_id: str) -> DriftFinding | None:
    row = session.get(DriftCheck, tenant_id)
    return None if row is None else _finding(row)


def _finding(row: DriftCheck) -> DriftFinding:
    return DriftFinding(
        tenant_id=row.tenant_id,
        checked_at=row.checked_at,
        mode=RunMode(row.mode),
        spec_version=row.spec_version,
        job_id=row.job_id,
        operation_id=row.operation_id,
        resources=tuple(
            DriftedResource(
                urn=str(r.get("urn", "")),
                type=str(r.get("type", "")),
                name=str(r.get("name", "")),
                change=str(r.get("change", "")),
                properties=tuple(str(p) for p in r.get("properties") or ()),
            )
            for r in row.resources
        ),
    )
