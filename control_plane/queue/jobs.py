"""The durable job queue: one stack operation per tenant at a time, across any workers.

A job is claimed under a lease that its worker renews; a crashed worker's job is claimed
again once the lease expires. Only the oldest unfinished job of a tenant can be claimed,
which keeps a tenant's operations in request order and never two at once. A new desired
spec supersedes (coalesces) the tenant's queued, not yet running, `up`-type jobs.

Claiming is one statement inside one transaction: on SQLite the transaction holds the
database write lock (`BEGIN IMMEDIATE`), on PostgreSQL the row is taken with
`FOR UPDATE SKIP LOCKED`, so concurrent workers skip each other's candidates.

Fencing: every claim takes the next lease generation of the job's tenant and stamps it on
the job. A run may commit (its operation's result, outputs, the tenant's state, its plan
file) only while its job still carries its generation; once another worker has claimed
the job after an expired lease, the old run's commits are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from control_plane.registry.database import Database
from control_plane.registry.models import Job, Tenant, utcnow
from control_plane.settings import Settings


class JobKind(StrEnum):
    PROVISION = "provision"
    UPDATE = "update"
    SUSPEND = "suspend"
    RESUME = "resume"
    UP = "up"
    PREVIEW = "preview"
    REFRESH = "refresh"
    DEPROVISION = "deprovision"
    DRIFT = "drift"
    """A read-only drift check (scheduled, or `tenantctl drift --check`)."""


APPLY_KINDS = frozenset(
    {JobKind.PROVISION, JobKind.UPDATE, JobKind.SUSPEND, JobKind.RESUME, JobKind.UP}
)
"""Jobs that run `up` with the desired spec; a newer one makes queued older ones moot."""
STATE_CHANGING_KINDS = APPLY_KINDS | {JobKind.DEPROVISION}


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"


UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class LeaseLostError(Exception):
    """The worker no longer owns the job (its lease expired and another worker took it)."""


class JobNotFoundError(LookupError):
    """No job with that id."""


class JobNotRetryableError(Exception):
    """A retry of a job that did not fail, or whose failure a later job already answers."""


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker owns until its lease expires."""

    id: int
    tenant_id: str
    kind: JobKind
    spec_version: int
    purge: bool
    actor: str
    attempt: int
    """1 for the first run; lease expiries and retries count too."""
    max_attempts: int
    owner: str
    lease_generation: int
    """The fencing token of this claim (grows with every claim of the tenant's jobs)."""


class JobQueue:
    """Enqueue, claim, renew and settle jobs."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.max_attempts = settings.retry_max_attempts
        self.backoff_seconds = settings.retry_backoff_seconds
        self.backoff_max_seconds = settings.retry_backoff_max_seconds

    def enqueue(
        self,
        session: Session,
        tenant_id: str,
        kind: JobKind,
        *,
        spec_version: int,
        actor: str,
        purge: bool = False,
    ) -> tuple[Job, list[int]]:
        """Queue a job in the caller's transaction; returns it and the job ids it superseded."""
        job = Job(
            tenant_id=tenant_id,
            kind=kind.value,
            spec_version=spec_version,
            purge=purge,
            status=JobStatus.QUEUED.value,
            actor=actor,
            attempts=0,
            max_attempts=self.max_attempts,
            run_after=utcnow(),
        )
        session.add(job)
        session.flush()
        if kind not in STATE_CHANGING_KINDS:
            return job, []
        # A destroy makes pending ups moot too; running jobs are never touched.
        stale = session.scalars(
            select(Job.id)
            .where(
                Job.tenant_id == tenant_id,
                Job.status == JobStatus.QUEUED.value,
                Job.kind.in_([k.value for k in APPLY_KINDS]),
                Job.id != job.id,
            )
            .with_for_update()
        ).all()
        if stale:
            session.execute(
                update(Job)
                .where(Job.id.in_(stale), Job.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.SUPERSEDED.value, superseded_by=job.id, finished_at=utcnow()
                )
            )
        return job, list(stale)

    def claim(self, owner: str) -> ClaimedJob | None:
        """Take the next runnable job under a lease, or None when nothing can run now."""
        now = utcnow()
        older = aliased(Job)
        query = (
            select(Job, Tenant)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(
                or_(
                    and_(Job.status == JobStatus.QUEUED.value, Job.run_after <= now),
                    and_(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now),
                ),
                ~exists().where(
                    older.tenant_id == Job.tenant_id,
                    older.status.in_(UNFINISHED),
                    older.id < Job.id,
                ),
            )
            .order_by(Job.run_after, Job.id)
            .limit(1)
            # The tenant row too: its generation counter is taken with the job, and a
            # tenant locked by a request in progress is skipped rather than waited for.
            .with_for_update(skip_locked=True, of=[Job, Tenant])
        )
        with self.database.transaction() as session:
            row = session.execute(query).one_or_none()
            if row is None:
                return None
            job, tenant = row
            tenant.lease_generation += 1
            job.lease_generation = tenant.lease_generation
            job.status = JobStatus.RUNNING.value
            job.attempts += 1
            job.lease_owner = owner
            # From now, not from before the wait for the database's lock: the worker gets
            # the whole lease.
            job.lease_expires_at = utcnow() + self.lease
            job.started_at = job.started_at or now
            return ClaimedJob(
                id=job.id,
                tenant_id=job.tenant_id,
                kind=JobKind(job.kind),
                spec_version=job.spec_version,
                purge=job.purge,
                actor=job.actor,
                attempt=job.attempts,
                max_attempts=job.max_attempts,
                owner=owner,
                lease_generation=job.lease_generation,
            )

    def renew(self, job: ClaimedJob) -> bool:
        """Extend the lease; False when it was lost to another worker."""
        with self.database.transaction() as session:
            result = session.execute(
                update(Job)
                .where(_owned(job))
                .values(lease_expires_at=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    def holds(self, job: ClaimedJob) -> bool:
        """Whether the job still carries this claim's generation (nobody took it over)."""
        with self.database.transaction() as session:
            return session.scalar(select(Job.id).where(_owned(job))) is not None

    def assert_held(self, session: Session, job: ClaimedJob) -> Job:
        """The job's row, locked in the caller's transaction; `LeaseLostError` once the
        claim was taken over, so nothing the transaction writes is committed."""
        row = session.scalars(select(Job).where(_owned(job)).with_for_update()).one_or_none()
        if row is None:
            raise LeaseLostError(lease_lost_message(job))
        return row

    def complete(self, session: Session, job: ClaimedJob) -> None:
        """Mark the job succeeded in the caller's transaction (exactly once per job)."""
        row = self.assert_held(session, job)
        row.status = JobStatus.SUCCEEDED.value
        row.finished_at = utcnow()
        row.lease_owner = None
        row.lease_expires_at = None
        row.last_error = None

    def fail(
        self, session: Session, job: ClaimedJob, error: str, *, retryable: bool
    ) -> datetime | None:
        """Record a failed attempt: the retry time, or None when the job failed for good."""
        row = self.assert_held(session, job)
        row.last_error = error
        row.lease_owner = None
        row.lease_expires_at = None
        if retryable and row.attempts < row.max_attempts:
            row.status = JobStatus.QUEUED.value
            row.run_after = utcnow() + timedelta(seconds=self.backoff(row.attempts))
            return row.run_after
        row.status = JobStatus.FAILED.value
        row.finished_at = utcnow()
        return None

    def retry(self, session: Session, job_id: int, *, actor: str) -> Job:
        """Queue a failed job again as a new job (`retry_of` names the failed one) in the
        caller's transaction, which should hold the tenant's row.

        Only a failed job whose tenant has no later job of its class is retried: a later
        job (a retry, or a newer spec's `up`) already answers the failure, and running the
        old one again would apply an outdated spec.
        """
        row = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()
        if row is None:
            raise JobNotFoundError(f"job {job_id} not found")
        if row.status != JobStatus.FAILED.value:
            raise JobNotRetryableError(
                f"job {job_id} is {row.status}, not failed: only a failed job can be retried"
            )
        later = aliased(Job)
        newer = session.scalars(
            select(later)
            .where(later.tenant_id == row.tenant_id, later.id > row.id, _same_class(later, row))
            .order_by(later.id)
            .limit(1)
        ).one_or_none()
        if newer is not None:
            if newer.retry_of == row.id:
                raise JobNotRetryableError(
                    f"job {job_id} was already retried as job {newer.id} ({newer.status})"
                )
            raise JobNotRetryableError(
                f"job {job_id} ({row.kind}) was followed by job {newer.id} ({newer.kind}, "
                f"{newer.status}) of tenant {row.tenant_id!r}: retry the tenant's latest "
                "failed job, or queue a new operation"
            )
        job, _superseded = self.enqueue(
            session,
            row.tenant_id,
            JobKind(row.kind),
            spec_version=row.spec_version,
            actor=actor,
            purge=row.purge,
        )
        job.retry_of = row.id
        return job

    def release(self, job: ClaimedJob) -> bool:
        """Give the job back (worker shutting down) without counting the attempt."""
        with self.database.transaction() as session:
            result = session.execute(
                update(Job)
                .where(_owned(job))
                .values(
                    status=JobStatus.QUEUED.value,
                    attempts=Job.attempts - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    run_after=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    def backoff(self, attempts: int) -> float:
        """Seconds before retry number `attempts` (exponential, capped)."""
        return float(min(self.backoff_seconds * 2 ** (attempts - 1), self.backoff_max_seconds))

    def has_later_state_change(self, session: Session, job: ClaimedJob) -> bool:
        """Whether a newer up or destroy for the tenant is waiting (it settles the state)."""
        return (
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.tenant_id == job.tenant_id,
                    Job.id > job.id,
                    Job.status.in_(UNFINISHED),
                    Job.kind.in_([k.value for k in STATE_CHANGING_KINDS]),
                )
            )
            or 0
        ) > 0

    def unfinished(self) -> int:
        """Jobs queued (including those waiting for a retry) or running."""
        with self.database.transaction() as session:
            return (
                session.scalar(
                    select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED))
                )
                or 0
            )


def unresolved_failure() -> ColumnElement[bool]:
    """Jobs that are failing: retrying after a failed attempt, or failed for good with no
    later job of their class (a retry or a newer operation) for the tenant."""
    later = aliased(Job)
    answered = exists().where(
        later.tenant_id == Job.tenant_id, later.id > Job.id, _same_class(later, Job)
    )
    return or_(
        and_(Job.status == JobStatus.FAILED.value, ~answered),
        and_(Job.status.in_(UNFINISHED), Job.last_error.is_not(None)),
    )


def _same_class(later: type[Job], job: type[Job] | Job) -> ColumnElement[bool]:
    """`later` answers `job`: the same kind, or both change the tenant's state."""
    changing = [k.value for k in STATE_CHANGING_KINDS]
    if isinstance(job, Job):
        if job.kind in changing:
            return later.kind.in_(changing)
        return later.kind == job.kind
    return or_(later.kind == job.kind, and_(later.kind.in_(changing), job.kind.in_(changing)))


def lease_lost_message(job: ClaimedJob) -> str:
    return (
        f"job {job.id} ({job.kind.value} {job.tenant_id}) is no longer owned by {job.owner} "
        f"(lease generation {job.lease_generation}): its lease expired and another worker "
        f"took it; this run's results are discarded"
    )


def _owned(job: ClaimedJob) -> ColumnElement[bool]:
    return and_(
        Job.id == job.id,
        Job.status == JobStatus.RUNNING.value,
        Job.lease_generation == job.lease_generation,
    )


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))
