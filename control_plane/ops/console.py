"""What the operator console reads: the fleet table, a tenant's jobs and the audit log.

The fleet joins each tenant with its last operation, its failing jobs (retrying, or failed
with nothing later to answer them) and its open support cases, with filters and a search
by tenant id. The audit log merges the two places changes are recorded: the accounts
audit (members, tokens, cases) and the tenants' operation log (requests, with their
actor), newest first.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from control_plane.queue.jobs import JobStatus, unresolved_failure
from control_plane.registry.account_models import AccountEvent
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Job, Operation, Tenant, TenantSpecVersion
from control_plane.support.cases import open_cases_by_tenant

MAX_ERROR = 300


@dataclass(frozen=True)
class FleetFilter:
    state: str | None = None
    plan: str | None = None
    region: str | None = None
    failing: bool = False
    """Only tenants in state `failed` or with a failing job."""
    search: str | None = None
    """A part of the tenant id."""


@dataclass(frozen=True)
class FleetRow:
    tenant_id: str
    display_name: str | None
    state: str
    plan: str
    region: str
    last_operation: str | None
    """`<action> <status>` of the newest operation log entry."""
    last_operation_at: datetime | None
    failing_jobs: int
    open_cases: int


@dataclass(frozen=True)
class FleetPage:
    rows: list[FleetRow]
    total: int
    """Tenants matching the filter, on every page."""


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    status: str
    actor: str
    attempts: int
    max_attempts: int
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None
    retry_of: int | None
    retryable: bool
    """Failed with no later job of its kind answering it: `jobs retry` takes it."""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    tenant_id: str | None
    source: str
    """`accounts` (members, tokens, cases, users) or `operations` (tenant requests)."""
    action: str
    subject: str
    detail: str


class OperatorConsole:
    """Read models of the operator console over the registry."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def fleet(self, wanted: FleetFilter, *, limit: int = 50, offset: int = 0) -> FleetPage:
        with self.database.transaction() as session:
            rows = [r for r in self._rows(session, wanted) if _matches(r, wanted)]
        return FleetPage(rows=rows[offset : offset + limit], total=len(rows))

    def jobs(self, tenant_id: str, *, limit: int = 20) -> list[JobRow]:
        """The tenant's newest jobs, failing ones marked retryable."""
        with self.database.transaction() as session:
            retryable = set(
                session.scalars(
                    select(Job.id).where(
                        Job.tenant_id == tenant_id,
                        Job.status == JobStatus.FAILED.value,
                        unresolved_failure(),
                    )
                )
            )
            jobs = session.scalars(
                select(Job).where(Job.tenant_id == tenant_id).order_by(Job.id.desc()).limit(limit)
            )
            return [
                JobRow(
                    id=job.id,
                    kind=job.kind,
                    status=job.status,
                    actor=job.actor,
                    attempts=job.attempts,
                    max_attempts=job.max_attempts,
                    created_at=job.created_at,
                    finished_at=job.finished_at,
                    last_error=_clip(job.last_error),
                    retry_of=job.retry_of,
                    retryable=job.id in retryable,
                )
                for job in jobs
            ]

    def audit(
        self,
        *,
        tenant_id: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Account events and tenant requests, newest first; `actor` matches a part."""
        wanted = offset + limit
        accounts = select(AccountEvent).order_by(AccountEvent.at.desc(), AccountEvent.id.desc())
        requests = (
            select(Operation)
            .where(Operation.mode.is_(None))
            .order_by(Operation.started_at.desc(), Operation.id.desc())
        )
        if tenant_id is not None:
            accounts = accounts.where(AccountEvent.tenant_id == tenant_id)
            requests = requests.where(Operation.tenant_id == tenant_id)
        if actor:
            accounts = accounts.where(AccountEvent.actor.contains(actor, autoescape=True))
            requests = requests.where(Operation.actor.contains(actor, autoescape=True))
        with self.database.transaction() as session:
            events = [
                AuditEntry(e.at, e.actor, e.tenant_id, "accounts", e.action, e.subject, e.detail)
                for e in session.scalars(accounts.limit(wanted))
            ]
            operations = [
                AuditEntry(
                    o.started_at,
                    o.actor,
                    o.tenant_id,
                    "operations",
                    o.action,
                    o.tenant_id,
                    o.message or "",
                )
                for o in session.scalars(requests.limit(wanted))
            ]
        merged = heapq.merge(events, operations, key=lambda e: e.at, reverse=True)
        return list(islice(merged, offset, wanted))

    @staticmethod
    def _rows(session: Session, wanted: FleetFilter) -> list[FleetRow]:
        newest = (
            select(Operation.tenant_id, func.max(Operation.id).label("id"))
            .group_by(Operation.tenant_id)
            .subquery()
        )
        query = (
            select(Tenant, TenantSpecVersion.spec, Operation)
            .join(
                TenantSpecVersion,
                and_(
                    TenantSpecVersion.tenant_id == Tenant.id,
                    TenantSpecVersion.version == Tenant.spec_version,
                ),
            )
            .outerjoin(newest, newest.c.tenant_id == Tenant.id)
            .outerjoin(Operation, Operation.id == newest.c.id)
            .order_by(Tenant.id)
        )
        if wanted.state:
            query = query.where(Tenant.state == wanted.state)
        if wanted.plan:
            query = query.where(Tenant.plan == wanted.plan)
        if wanted.search:
            query = query.where(Tenant.id.contains(wanted.search.strip(), autoescape=True))
        failing: dict[str, int] = {
            tenant_id: count
            for tenant_id, count in session.execute(
                select(Job.tenant_id, func.count())
                .where(unresolved_failure())
                .group_by(Job.tenant_id)
            )
        }
        cases = open_cases_by_tenant(session)
        return [
            FleetRow(
                tenant_id=tenant.id,
                display_name=tenant.display_name,
                state=tenant.state,
                plan=tenant.plan,
                region=str(spec.get("region", "")),
                last_operation=f"{op.action} {op.status}" if op is not None else None,
                last_operation_at=op.started_at if op is not None else None,
                failing_jobs=failing.get(tenant.id, 0),
                open_cases=cases.get(tenant.id, 0),
            )
            for tenant, spec, op in session.execute(query)
        ]


def _matches(row: FleetRow, wanted: FleetFilter) -> bool:
    if wanted.region and row.region != wanted.region:
        return False
    return not wanted.failing or row.state == TenantState.FAILED or row.failing_jobs > 0


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + "..."
