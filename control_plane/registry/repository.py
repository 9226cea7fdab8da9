"""The repository layer: everything the control plane reads or writes in the registry.

A `Registry` wraps one session (one transaction) and speaks in domain terms: tenants,
desired spec versions, the operation log and its events. Use cases open a transaction
with `Database.transaction()` and hand the session here; nothing commits on its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from components.spec import TenantSpec
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import (
    Job,
    Operation,
    OperationEvent,
    Tenant,
    TenantSpecVersion,
    utcnow,
)
from control_plane.registry.runs import RunMode, RunResult


class OperationStatus(StrEnum):
    ACCEPTED = "accepted"
    """A request was recorded (registry only, nothing ran)."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    """The attempt failed; the job is queued again after a backoff."""
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    """The worker stopped or lost its lease; the job went back to the queue."""


class TenantNotFoundError(LookupError):
    """No tenant with that id; the message lists the known ones."""


class TenantExistsError(Exception):
    """A tenant with that id is already registered."""


@dataclass(frozen=True)
class FleetSummary:
    """Counts a fleet dashboard shows."""

    tenants_by_state: dict[str, int]
    jobs_by_status: dict[str, int]
    tenants_in_plan_mode: int
    """Tenants whose latest successful stack operation was only a plan."""
    failed_tenants: dict[str, str]
    """Failed tenant id -> its last error."""


class Registry:
    """Tenants, their desired specs and their operation log, inside one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # Tenants

    def tenant(self, tenant_id: str, *, for_update: bool = False) -> Tenant:
        """The tenant, locked for the transaction on PostgreSQL when `for_update`."""
        query = select(Tenant).where(Tenant.id == tenant_id)
        if for_update:
            query = query.with_for_update()
        tenant = self.session.scalars(query).one_or_none()
        if tenant is None:
            known = self.session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
            listing = ", ".join(known) if known else "none"
            raise TenantNotFoundError(f"unknown tenant {tenant_id!r}; known tenants: {listing}")
        return tenant

    def tenants(self) -> list[Tenant]:
        return list(self.session.scalars(select(Tenant).order_by(Tenant.id)))

    def add_tenant(self, spec: TenantSpec, *, state: TenantState) -> Tenant:
        """Register a tenant; its first desired version is added with `add_spec_version`."""
        existing = self.session.get(Tenant, spec.tenant_id)
        if existing is not None:
            raise TenantExistsError(
                f"tenant {spec.tenant_id!r} already exists (state {existing.state!r})"
            )
        tenant = Tenant(
            id=spec.tenant_id,
            display_name=spec.display_name,
            plan=spec.plan.value,
            state=state.value,
            spec_version=0,
            cidr=str(spec.network.cidr),
        )
        self.session.add(tenant)
        try:
            self.session.flush()
        except IntegrityError:
            # A concurrent create of the same id won the race (PostgreSQL, read committed).
            raise TenantExistsError(f"tenant {spec.tenant_id!r} already exists") from None
        return tenant

    def add_spec_version(
        self,
        tenant: Tenant,
        spec: TenantSpec,
        *,
        actor: str,
        reason: str,
        at: datetime | None = None,
    ) -> TenantSpecVersion:
        """Record `spec` as the tenant's next desired version (as of `at`, default now)."""
        tenant.spec_version += 1
        tenant.plan = spec.plan.value
        tenant.display_name = spec.display_name
        version = TenantSpecVersion(
            tenant_id=tenant.id,
            version=tenant.spec_version,
            spec=spec.model_dump(mode="json", exclude_defaults=True),
            actor=actor,
            reason=reason,
            created_at=at or utcnow(),
        )
        self.session.add(version)
        self.session.flush()
        return version

    def spec(self, tenant_id: str, version: int | None = None) -> TenantSpec:
        """The desired spec (the current version unless `version` is given)."""
        wanted = self.tenant(tenant_id).spec_version if version is None else version
        row = self.session.scalars(
            select(TenantSpecVersion).where(
                TenantSpecVersion.tenant_id == tenant_id, TenantSpecVersion.version == wanted
            )
        ).one_or_none()
        if row is None:
            raise LookupError(f"tenant {tenant_id!r} has no spec version {wanted}")
        return TenantSpec.model_validate(row.spec)

    # Operation log

    def record_request(
        self,
        tenant_id: str,
        action: str,
        *,
        actor: str,
        spec_version: int | None,
        message: str,
        job_id: int | None = None,
        at: datetime | None = None,
    ) -> Operation:
        """Log an accepted request (who asked for what; when: `at`, default now)."""
        now = at or utcnow()
        operation = Operation(
            tenant_id=tenant_id,
            job_id=job_id,
            action=action,
            actor=actor,
            mode=None,
            status=OperationStatus.ACCEPTED.value,
            spec_version=spec_version,
            started_at=now,
            finished_at=now,
            message=message,
        )
        self.session.add(operation)
        self.session.flush()
        return operation

    def start_operation(
        self,
        tenant_id: str,
        action: str,
        *,
        actor: str,
        mode: RunMode,
        spec_version: int,
        job_id: int,
        message: str,
    ) -> Operation:
        """Log a stack operation that is about to run."""
        operation = Operation(
            tenant_id=tenant_id,
            job_id=job_id,
            action=action,
            actor=actor,
            mode=mode.value,
            status=OperationStatus.RUNNING.value,
            spec_version=spec_version,
            message=message,
        )
        self.session.add(operation)
        self.session.flush()
        return operation

    def finish_operation(
        self,
        operation_id: int,
        status: OperationStatus,
        *,
        result: RunResult | None = None,
        error: str | None = None,
    ) -> Operation:
        operation = self.session.get_one(Operation, operation_id)
        operation.status = status.value
        operation.finished_at = utcnow()
        operation.error = error
        if result is not None:
            operation.mode = result.mode.value
            operation.changes = dict(result.changes)
            operation.outputs = _jsonable(result.outputs)
            operation.retained = list(result.retained)
            operation.policy_violations = list(result.policy_violations)
            operation.resource_count = result.resource_count
            if result.resources is not None:
                operation.resources = [
                    {**dataclasses.asdict(r), "outputs": _jsonable(r.outputs)}
                    for r in result.resources
                ]
        return operation

    def interrupt_operation(self, operation_id: int, error: str) -> bool:
        """Close a running operation as interrupted; False if it was already closed."""
        operation = self.session.get_one(Operation, operation_id, with_for_update=True)
        if operation.status != OperationStatus.RUNNING.value:
            return False
        operation.status = OperationStatus.INTERRUPTED.value
        operation.finished_at = utcnow()
        operation.error = error
        return True

    def interrupt_running(self, job_id: int, error: str) -> int:
        """Close the operations of a job whose worker vanished; how many were open."""
        stale = self.session.scalars(
            select(Operation).where(
                Operation.job_id == job_id,
                Operation.status == OperationStatus.RUNNING.value,
            )
        ).all()
        for operation in stale:
            operation.status = OperationStatus.INTERRUPTED.value
            operation.finished_at = utcnow()
            operation.error = error
        return len(stale)

    def append_events(self, operation_id: int, first_seq: int, lines: list[str]) -> None:
        for offset, line in enumerate(lines):
            self.session.add(
                OperationEvent(operation_id=operation_id, seq=first_seq + offset, message=line)
            )

    def operations(self, tenant_id: str, *, limit: int | None = None) -> list[Operation]:
        """The tenant's operation log, newest first."""
        query = select(Operation).where(Operation.tenant_id == tenant_id)
        query = query.order_by(Operation.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def events(self, operation_id: int) -> list[OperationEvent]:
        return list(
            self.session.scalars(
                select(OperationEvent)
                .where(OperationEvent.operation_id == operation_id)
                .order_by(OperationEvent.seq)
            )
        )

    def last_run(self, tenant_id: str) -> Operation | None:
        """The tenant's latest successful stack operation (its mode marks plans)."""
        return self.session.scalars(
            select(Operation)
            .where(
                Operation.tenant_id == tenant_id,
                Operation.mode.is_not(None),
                Operation.status == OperationStatus.SUCCEEDED.value,
            )
            .order_by(Operation.id.desc())
            .limit(1)
        ).one_or_none()

    def last_inventory(self, tenant_id: str) -> Operation | None:
        """The tenant's latest successful stack operation that recorded its resources."""
        return self.session.scalars(
            select(Operation)
            .where(
                Operation.tenant_id == tenant_id,
                Operation.resources.is_not(None),
                Operation.status == OperationStatus.SUCCEEDED.value,
            )
            .order_by(Operation.id.desc())
            .limit(1)
        ).one_or_none()

    def display_state(self, tenant: Tenant) -> str:
        """The state as shown to people: `active (plan)` when only a plan backs it."""
        last = self.last_run(tenant.id)
        if last is not None and last.mode == RunMode.PLAN.value:
            return f"{tenant.state} (plan)"
        return tenant.state

    def fleet_summary(self) -> FleetSummary:
        by_state = {
            state: count
            for state, count in self.session.execute(
                select(Tenant.state, func.count()).group_by(Tenant.state)
            )
        }
        by_status = {
            status: count
            for status, count in self.session.execute(
                select(Job.status, func.count()).group_by(Job.status)
            )
        }
        tenants = self.tenants()
        plan_mode = sum(self.display_state(t).endswith("(plan)") for t in tenants)
        failed = {t.id: t.last_error or "" for t in tenants if t.state == TenantState.FAILED.value}
        return FleetSummary(
            tenants_by_state=dict(sorted(by_state.items())),
            jobs_by_status=dict(sorted(by_status.items())),
            tenants_in_plan_mode=plan_mode,
            failed_tenants=failed,
        )


def _jsonable(value: Any) -> Any:
    """Outputs as plain JSON values (secrets and unknowns become strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
