"""Scheduled drift checks: a `drift` job for each deployed tenant once per interval.

Long-running workers call `enqueue_due` between jobs. The check itself goes through the
queue like every stack operation: one operation per tenant at a time (the Automation
runner's workspace and the stack's state are never shared by two runs), leased, fenced
and retried. Whether a tenant is due is read from its jobs, so any number of workers on
any machines schedule each tenant once per interval, and a check that keeps failing is
not queued again before the interval is over.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select

from control_plane.queue.jobs import UNFINISHED, JobKind, JobQueue
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Job, Tenant, utcnow
from control_plane.settings import Settings

SCHEDULER_ACTOR = "drift-schedule"
CHECKED_STATES = (TenantState.ACTIVE.value, TenantState.SUSPENDED.value)
"""Deployed and settled: a tenant on its way somewhere is checked once it arrives."""
MAX_PER_PASS = 200
"""Bounds one pass; the rest are due on the next."""
PASS_EVERY_SECONDS = 60.0


class DriftSchedule:
    """Queues the drift checks that are due; a no-op when the interval is 0."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.interval: timedelta = settings.drift_interval
        self.queue = JobQueue(database, settings)
        self._pass_every = min(PASS_EVERY_SECONDS, self.interval.total_seconds())
        self._last_pass: float | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > timedelta(0)

    def enqueue_due(self, *, now: datetime | None = None, force: bool = False) -> list[str]:
        """Queue a check for every due tenant (at most once a minute unless `force`); the
        tenants queued."""
        if not self.enabled:
            return []
        clock = time.monotonic()
        if not force and self._last_pass is not None and clock - self._last_pass < self._pass_every:
            return []
        self._last_pass = clock
        moment = now or utcnow()
        last_check = (
            select(func.max(Job.created_at))
            .where(Job.tenant_id == Tenant.id, Job.kind == JobKind.DRIFT.value)
            .correlate(Tenant)
            .scalar_subquery()
        )
        busy = exists().where(and_(Job.tenant_id == Tenant.id, Job.status.in_(UNFINISHED)))
        query = (
            select(Tenant)
            .where(
                Tenant.state.in_(CHECKED_STATES),
                ~busy,
                (last_check.is_(None)) | (last_check < moment - self.interval),
            )
            .order_by(Tenant.id)
            .limit(MAX_PER_PASS)
            .with_for_update(skip_locked=True)
        )
        queued: list[str] = []
        with self.database.transaction() as session:
            for tenant in session.scalars(query):
                self.queue.enqueue(
                    session,
                    tenant.id,
                    JobKind.DRIFT,
                    spec_version=tenant.spec_version,
                    actor=SCHEDULER_ACTOR,
                )
                queued.append(tenant.id)
        return queued
