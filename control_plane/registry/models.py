"""The registry's tables, as SQLAlchemy 2 typed models.

Every table of the control plane is declared here, next to its siblings, so one Alembic
migration history in `control_plane/migrations/` covers the whole schema. Times are
stored as naive UTC and come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC timestamp: naive UTC in the database (SQLite keeps no zone), aware in Python."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given; use timezone-aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Tenant(Base):
    """One customer: its lifecycle state, its plan and the version of its desired spec."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The tenant slug (also the stack name)."""
    display_name: Mapped[str | None] = mapped_column(String(128))
    plan: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32), index=True)
    """A `control_plane.registry.lifecycle.TenantState` value."""
    spec_version: Mapped[int] = mapped_column(Integer)
    """Version of the current desired spec in `tenant_specs`."""
    cidr: Mapped[str | None] = mapped_column(String(18))
    """The tenant's network; kept after retirement for the record, released in the pool."""
    last_error: Mapped[str | None] = mapped_column(Text)
    """The latest stack operation failure, cleared by the next success."""
    lease_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The last fencing token handed out with a claim of one of the tenant's jobs."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    specs: Mapped[list[TenantSpecVersion]] = relationship(
        back_populates="tenant", order_by="TenantSpecVersion.version"
    )


class TenantSpecVersion(Base):
    """One version of a tenant's desired `TenantSpec`; versions only ever grow."""

    __tablename__ = "tenant_specs"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]]
    """The spec as JSON (`TenantSpec.model_dump(mode="json")`)."""
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="specs")


class NetworkAllocation(Base):
    """A CIDR block held by a tenant; the row is deleted when the tenant retires."""

    __tablename__ = "network_allocations"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    cidr: Mapped[str] = mapped_column(String(18), unique=True)
    first_address: Mapped[int] = mapped_column(BigInteger)
    last_address: Mapped[int] = mapped_column(BigInteger)
    allocated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A durable request for one stack operation on one tenant."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_run_after", "status", "run_after"),
        Index("ix_jobs_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(32))
    """A `control_plane.queue.jobs.JobKind` value."""
    spec_version: Mapped[int] = mapped_column(Integer)
    """The desired spec version the operation applies."""
    purge: Mapped[bool] = mapped_column(Boolean, default=False)
    """Deprovision only: delete the data stores too (explicitly confirmed)."""
    status: Mapped[str] = mapped_column(String(16))
    """A `control_plane.queue.jobs.JobStatus` value."""
    actor: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    """Not claimed before this time (retry backoff)."""
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    lease_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Fencing token of the current claim: the tenant's generation when it was claimed.

    Every effect of a run is committed only while the job still carries the run's token,
    so a worker whose lease was taken over commits nothing."""
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    """The newer job this one was coalesced into."""
    retry_of: Mapped[int | None] = mapped_column(Integer, index=True)
    """The failed job an operator asked to run again as this one."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Operation(Base):
    """The audit log: one row per request and per stack operation attempt."""

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_tenant_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    action: Mapped[str] = mapped_column(String(32))
    """What was asked or run: `create`, `update`, `suspend`, `up`, `destroy`, ..."""
    actor: Mapped[str] = mapped_column(String(128))
    mode: Mapped[str | None] = mapped_column(String(16))
    """`plan` or `deploy` for stack operations (`RunMode`); empty for registry requests."""
    status: Mapped[str] = mapped_column(String(16))
    """An `control_plane.registry.repository.OperationStatus` value."""
    spec_version: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retained: Mapped[list[str]] = mapped_column(default=list)
    """Data stores a destroy kept."""
    policy_violations: Mapped[list[str]] = mapped_column(default=list)
    resource_count: Mapped[int | None] = mapped_column(Integer)
    resources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    """The stack's resources after the run (`RunResource` fields); None when the run does
    not know them (a preview, a failure, a run recorded before they were kept)."""
    message: Mapped[str | None] = mapped_column(Text)
    """What a request did (e.g. the fields that changed)."""
    error: Mapped[str | None] = mapped_column(Text)

    events: Mapped[list[OperationEvent]] = relationship(order_by="OperationEvent.seq")


class OperationEvent(Base):
    """One line of a stack operation's engine event stream."""

    __tablename__ = "operation_events"
    __table_args__ = (UniqueConstraint("operation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[str] = mapped_column(Text)
