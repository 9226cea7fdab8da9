"""Prometheus metrics of the fleet and the control plane, read from the registry.

Everything here is computed from the registry when Prometheus scrapes, so every server
process reports the same numbers whichever worker or webhook process did the work, and a
restart loses nothing. Per-process figures (API requests) are counted where they happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, make_asgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Row, func, select

from control_plane.billing.reconcile import ReconcileStep
from control_plane.queue.jobs import JobStatus
from control_plane.registry.billing_models import BillingEventRecord
from control_plane.registry.database import Database
from control_plane.registry.event_models import EventDelivery
from control_plane.registry.models import Job, Tenant, utcnow

NextHandler = Callable[[Request], Awaitable[Response]]

JOB_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Seconds; stack operations take from seconds (plans) to tens of minutes (NAT, RDS)."""
DURATION_SAMPLE = 5000
"""Finished jobs the duration histogram is computed over (the most recent)."""


class RegistryCollector(Collector):
    """Collects the fleet's and the queue's state from the registry at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.database.transaction() as session:
            tenants = session.execute(
                select(Tenant.state, Tenant.plan, func.count()).group_by(Tenant.state, Tenant.plan)
            ).all()
            jobs = session.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            ).all()
            queued = session.execute(
                select(func.count(), func.min(Job.created_at)).where(
                    Job.status == JobStatus.QUEUED.value
                )
            ).one()
            durations = session.execute(
                select(Job.kind, Job.started_at, Job.finished_at)
                .where(Job.finished_at.is_not(None), Job.started_at.is_not(None))
                .order_by(Job.id.desc())
                .limit(DURATION_SAMPLE)
            ).all()
            webhook = session.execute(
                select(BillingEventRecord.type, BillingEventRecord.outcome, func.count()).group_by(
                    BillingEventRecord.type, BillingEventRecord.outcome
                )
            ).all()
            deliveries = session.execute(
                select(EventDelivery.status, func.count()).group_by(EventDelivery.status)
            ).all()

        tenant_gauge = GaugeMetricFamily(
            "tenants_tenants",
            "Registered tenants by lifecycle state and plan.",
            labels=["state", "plan"],
        )
        for state, plan, count in tenants:
            tenant_gauge.add_metric([state, plan], count)
        yield tenant_gauge

        job_gauge = GaugeMetricFamily(
            "tenants_jobs", "Jobs in the registry by kind and status.", labels=["kind", "status"]
        )
        for kind, status, count in jobs:
            job_gauge.add_metric([kind, status], count)
        yield job_gauge

        depth, oldest = queued
        yield GaugeMetricFamily("tenants_queue_depth", "Jobs waiting for a worker.", value=depth)
        yield GaugeMetricFamily(
            "tenants_queue_oldest_job_age_seconds",
            "Age of the oldest queued job (0 when none is queued).",
            value=_age(now, oldest),
        )
        yield _durations(durations)

        events = CounterMetricFamily(
            "tenants_billing_webhook_events",
            "Billing webhook events stored, by type and outcome.",
            labels=["type", "outcome"],
        )
        for event_type, outcome, count in webhook:
            events.add_metric([event_type, outcome], count)
        yield events

        delivered = GaugeMetricFamily(
            "tenants_lifecycle_event_deliveries",
            "Lifecycle event deliveries by status.",
            labels=["status"],
        )
        for status, count in deliveries:
            delivered.add_metric([status], count)
        yield delivered


def _age(now: datetime, oldest: datetime | None) -> float:
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def _durations(
    rows: Sequence[Row[str, datetime | None, datetime | None]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "tenants_job_duration_seconds",
        f"Run time of the last {DURATION_SAMPLE} finished jobs, by kind.",
        labels=["kind"],
    )
    by_kind: dict[str, list[float]] = {}
    for kind, started, finished in rows:
        if started is None or finished is None:
            continue
        by_kind.setdefault(kind, []).append(max(0.0, (finished - started).total_seconds()))
    for kind, seconds in sorted(by_kind.items()):
        buckets = [
            (f"{bound:g}", float(sum(1 for s in seconds if s <= bound)))
            for bound in JOB_DURATION_BUCKETS
        ]
        buckets.append(("+Inf", float(len(seconds))))
        family.add_metric([kind], buckets, sum_value=sum(seconds))
    return family


class ServerMetrics:
    """One server process's metrics: the registry's state plus what this process does."""

    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RegistryCollector(database))
        self.reconciler_passes = Counter(
            "tenants_billing_reconciler_passes",
            "Reconciler passes over every subscription.",
            registry=self.registry,
        )
        self.reconciler_errors = Counter(
            "tenants_billing_reconciler_errors",
            "Subscription steps of the reconciler that raised or were refused.",
            registry=self.registry,
        )
        self.api_requests = Counter(
            "tenants_api_requests",
            "Requests to the web app by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.reconciler_last_pass = Gauge(
            "tenants_billing_reconciler_last_pass_timestamp_seconds",
            "Unix time the reconciler last finished a pass (a dead loop stops it moving).",
            registry=self.registry,
        )

    def api_request(self, route: str, method: str, status: int) -> None:
        self.api_requests.labels(route=route, method=method, status=str(status)).inc()

    def reconciler_pass(self, steps: Sequence[ReconcileStep] | None) -> None:
        """Count a pass: its failed or refused steps, or one error when it could not run."""
        if steps is None:
            self.reconciler_errors.inc()
            return
        self.reconciler_passes.inc()
        self.reconciler_errors.inc(
            sum(1 for step in steps if step.error is not None and not step.repeated)
        )
        self.reconciler_last_pass.set_to_current_time()

    def mount(self, app: FastAPI) -> None:
        """Serve `/metrics` (Prometheus text format) on `app`, and count its requests by
        route template (never by raw path: ids in paths would make unbounded labels)."""
        app.mount("/metrics", make_asgi_app(registry=self.registry))

        @app.middleware("http")
        async def count(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.api_request(template, request.method, response.status_code)
            return response
