"""Drift: checks queued like any stack operation, scheduled by long-running workers,
recorded in the registry, shown by health and diagnose, and repaired by an `up`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from control_plane.ops.diagnose import Diagnostician
from control_plane.ops.drift import DriftReport
from control_plane.ops.health import HealthCheck, Verdict
from control_plane.queue.drift_schedule import SCHEDULER_ACTOR, DriftSchedule
from control_plane.queue.jobs import JobKind
from control_plane.queue.worker import JobOutcome, Worker
from control_plane.registry.database import Database
from control_plane.registry.drift import drift_finding
from control_plane.registry.models import Job, utcnow
from control_plane.registry.repository import OperationStatus
from control_plane.registry.runs import RunMode
from control_plane.runners.offline import OfflineRunner, PlanStore
from control_plane.service import TenantService
from control_plane.settings import Settings
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import RecordingRunner, make_settings, spec_data

Drain = Callable[..., None]


def _offline(settings: Settings) -> OfflineRunner:
    # The pack is not what drift is about; planning is.
    return OfflineRunner(settings.data_dir, policy_check=lambda spec, plan: [])


def _lose_a_bucket(settings: Settings, tenant: str) -> str:
    """Take the data bucket out of the last plan, as if the stack never had it."""
    store = PlanStore(settings.data_dir)
    record = store.load(tenant)
    assert record is not None
    bucket = next(r for r in record.plan.resources if r.type == "aws:s3/bucket:Bucket")
    kept = [r for r in record.plan.resources if r.urn != bucket.urn]
    plan = record.plan.model_copy(update={"resources": kept})
    # By hand, as an operator would: the store itself refuses writers without the lease.
    store.path(tenant).write_text(record.model_copy(update={"plan": plan}).model_dump_json())
    return bucket.name


def _health(database: Database, stacks: StackFiles) -> HealthCheck:
    return HealthCheck(database, stacks, None, no_aws_reason="no AWS credentials")


def test_an_offline_check_finds_drift_and_an_up_repairs_it(
    service: TenantService,
    database: Database,
    settings: Settings,
    stacks: StackFiles,
    drain: Drain,
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain(_offline(settings))
    service.run("acme", JobKind.DRIFT, actor="ops")
    drain(_offline(settings))
    assert DriftReport(database, stacks).tenant("acme").drifted is False

    # A check is not an `up`: the tenant keeps the outputs its last `up` gave it.
    assert service.show("acme").outputs["tenant"] == "acme"
    bucket = _lose_a_bucket(settings, "acme")
    service.run("acme", JobKind.DRIFT, actor="ops")
    drain(_offline(settings))

    report = DriftReport(database, stacks).tenant("acme")
    assert report.drifted and report.mode == RunMode.PLAN.value
    assert [(r.change, r.name) for r in report.resources] == [("create", bucket)]
    health = _health(database, stacks).tenant("acme")
    assert health.verdict is Verdict.DEGRADED
    assert health.drift[0].startswith("resources drifted against the last plan: 1 (checked ")
    diagnosis = Diagnostician(database, _health(database, stacks)).diagnose("acme")
    assert any("`tenantctl drift --repair acme`" in step for step in diagnosis.next_steps)
    assert diagnosis.operations[0].action == "drift"
    assert any(
        f"drifted: create aws:s3/bucket:Bucket {bucket}" in line
        for line in diagnosis.operations[0].engine_messages
    )

    service.run("acme", JobKind.UP, actor="ops")  # what `tenantctl drift --repair` queues
    drain(_offline(settings))
    repaired = DriftReport(database, stacks).tenant("acme")
    assert not repaired.drifted and repaired.checked_at is None
    assert _health(database, stacks).tenant("acme").drift == []


def test_a_drift_check_changes_nothing(
    service: TenantService, database: Database, settings: Settings, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain(_offline(settings))
    before = PlanStore(settings.data_dir).path("acme").read_bytes()
    _lose_a_bucket(settings, "acme")
    edited = PlanStore(settings.data_dir).path("acme").read_bytes()

    service.run("acme", JobKind.DRIFT, actor="ops")
    drain(_offline(settings))

    # The recorded plan is what the check compared with; the check never replaces it.
    assert PlanStore(settings.data_dir).path("acme").read_bytes() == edited != before
    assert service.show("acme").state == "active"


def test_a_drift_check_needs_a_deployed_tenant(service: TenantService) -> None:
    service.create(spec_data("acme"), actor="ops")
    with pytest.raises(Exception, match="cannot refresh tenant 'acme' in state 'pending'"):
        service.run("acme", JobKind.DRIFT, actor="ops")


def test_the_schedule_queues_each_deployed_tenant_once_per_interval(
    service: TenantService, database: Database, settings: Settings, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    service.create(spec_data("globex"), actor="ops")
    drain()
    service.suspend("globex", actor="ops")
    drain()
    service.create(spec_data("initech"), actor="ops")  # pending: not deployed yet
    schedule = DriftSchedule(database, settings)

    assert schedule.enqueue_due(force=True) == ["acme", "globex"]
    assert schedule.enqueue_due(force=True) == []  # queued already
    drain()
    assert schedule.enqueue_due(force=True) == ["initech"]  # checked once it is deployed
    drain()
    assert schedule.enqueue_due(force=True) == []  # checked within the interval
    later = utcnow() + settings.drift_interval + timedelta(minutes=1)
    assert schedule.enqueue_due(now=later, force=True) == ["acme", "globex", "initech"]
    with database.transaction() as session:
        drift_jobs = session.scalars(select(Job).where(Job.kind == JobKind.DRIFT.value)).all()
        assert {j.actor for j in drift_jobs} == {SCHEDULER_ACTOR}
        assert drift_finding(session, "acme") is not None


def test_an_interval_of_zero_schedules_nothing(database: Database, tmp_path: object) -> None:
    settings = make_settings(tmp_path, drift_interval=0)  # type: ignore[arg-type]
    assert DriftSchedule(database, settings).enqueue_due(force=True) == []


def test_a_long_running_worker_schedules_and_runs_the_checks(
    service: TenantService, database: Database, settings: Settings, stacks: StackFiles
) -> None:
    service.create(spec_data("acme"), actor="ops")
    Worker(database, settings, RecordingRunner(), stacks=stacks).drain()
    stop = threading.Event()
    outcomes: list[JobOutcome] = []

    def seen(outcome: JobOutcome) -> None:
        outcomes.append(outcome)
        stop.set()

    worker = Worker(database, settings, RecordingRunner(), stacks=stacks, on_outcome=seen)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    thread.join(timeout=30)
    stop.set()

    [outcome] = outcomes
    assert outcome.job.kind is JobKind.DRIFT and outcome.job.actor == SCHEDULER_ACTOR
    assert outcome.status is OperationStatus.SUCCEEDED
    with database.transaction() as session:
        assert drift_finding(session, "acme") is not None
