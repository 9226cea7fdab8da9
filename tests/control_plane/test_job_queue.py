"""The durable queue under concurrency and faults, on SQLite and PostgreSQL.

Workers run as threads and as processes; a stand-in runner records every run and any
overlap per tenant (with `flock`, so a killed process's run ends with it).
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.context import SpawnProcess
from pathlib import Path

import pytest
from sqlalchemy import select

from control_plane.queue.jobs import ClaimedJob, JobKind, JobQueue, JobStatus, LeaseLostError
from control_plane.queue.worker import JobOutcome, Worker, _process_main, run_processes, run_threads
from control_plane.registry.database import Database, open_database
from control_plane.registry.models import Job, Operation
from control_plane.registry.repository import OperationStatus
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.control_plane.control_plane_helpers import (
    FailingRunner,
    RecordingRunner,
    make_settings,
    queued_job,
    read_lines,
    recording_runner,
    spec_data,
)

ACTOR = "test"
WAIT_SECONDS = 30.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def queue_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, lease_seconds=1.0)


@pytest.fixture
def registry(queue_settings: Settings) -> Iterator[Database]:
    database = open_database(queue_settings.registry_url)
    yield database
    database.dispose()


def fill_queue(service: TenantService, tenants: int) -> list[int]:
    """Each tenant gets a provision and two previews (previews never coalesce)."""
    job_ids: list[int] = []
    for i in range(tenants):
        tenant = f"tenant-{i:02d}"
        accepted = service.create(spec_data(tenant), actor=ACTOR)
        assert accepted.job_id is not None
        job_ids.append(accepted.job_id)
    for i in range(tenants):
        tenant = f"tenant-{i:02d}"
        for kind in (JobKind.PREVIEW, JobKind.PREVIEW):
            accepted = service.run(tenant, kind, actor=ACTOR)
            assert accepted.job_id is not None
            job_ids.append(accepted.job_id)
    return job_ids


def assert_each_job_completed_once(database: Database, job_ids: list[int]) -> None:
    with database.transaction() as session:
        jobs = session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
        assert {j.status for j in jobs} == {JobStatus.SUCCEEDED.value}
        succeeded = Counter(
            session.scalars(
                select(Operation.job_id).where(
                    Operation.status == OperationStatus.SUCCEEDED.value,
                    Operation.mode.is_not(None),
                )
            )
        )
    assert succeeded == dict.fromkeys(job_ids, 1)


def steady(settings: Settings) -> Settings:
    """A lease no load on a shared test machine outlasts: these tests are about sharing
    the work, not about leases expiring (those tests keep the 1 s lease)."""
    return settings.model_copy(update={"lease_seconds": 30.0})


def test_worker_threads_run_every_job_once_one_per_tenant(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    queue_settings = steady(queue_settings)
    service = TenantService(registry, queue_settings)
    job_ids = fill_queue(service, tenants=6)
    record = tmp_path / "record"
    record.mkdir()
    factory = functools.partial(recording_runner, delay=0.02, record_dir=record)

    ran = run_threads(queue_settings, factory, count=4, drain=True, install_signals=False)

    assert ran == len(job_ids)
    assert read_lines(record / "overlaps.log") == []
    assert len(read_lines(record / "runs.log")) == len(job_ids)
    assert_each_job_completed_once(registry, job_ids)
    assert {t.display_state for t in service.tenants()} == {"active (plan)"}


def test_worker_processes_run_every_job_once_one_per_tenant(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    queue_settings = steady(queue_settings)
    service = TenantService(registry, queue_settings)
    job_ids = fill_queue(service, tenants=4)
    record = tmp_path / "record"
    record.mkdir()
    factory = functools.partial(recording_runner, delay=0.05, record_dir=record)

    exit_codes = run_processes(queue_settings, factory, count=3, drain=True)

    assert exit_codes == [0, 0, 0]
    assert read_lines(record / "overlaps.log") == []
    runs = read_lines(record / "runs.log")
    assert len(runs) == len(job_ids)
    assert_each_job_completed_once(registry, job_ids)
    # The work really was shared between processes.
    assert len({line.split()[1] for line in read_lines(record / "started.log")}) > 1


def test_newer_spec_supersedes_queued_ones_but_not_the_running_one(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, queue_settings)
    service.create(spec_data("acme"), actor=ACTOR)
    Worker(registry, queue_settings, RecordingRunner()).drain()
    first = service.update("acme", {"compute": {"max_size": 2}}, actor=ACTOR)
    queue = JobQueue(registry, queue_settings)
    running = queue.claim("someone-else")
    assert running is not None and running.id == first.job_id

    later = [
        service.update("acme", {"compute": {"desired_capacity": d, "max_size": 3}}, actor=ACTOR)
        for d in (1, 2, 3)
    ]

    assert later[0].superseded_jobs == []  # the running job is never superseded
    assert later[1].superseded_jobs == [later[0].job_id]
    assert later[2].superseded_jobs == [later[1].job_id]
    # While the first runs nothing else for the tenant can be claimed.
    assert queue.claim("worker-2") is None
    with registry.transaction() as session:
        queue.complete(session, running)
    claimed = queue.claim("worker-2")
    assert claimed is not None and claimed.id == later[2].job_id


def test_retryable_failures_back_off_then_fail_with_the_error_kept(
    registry: Database, queue_settings: Settings
) -> None:
    service = TenantService(registry, queue_settings)
    accepted = service.create(spec_data("acme"), actor=ACTOR)
    runner = FailingRunner("error: the stack is locked by another update", retryable=True)
    outcomes: list[JobOutcome] = []
    worker = Worker(registry, queue_settings, runner, on_outcome=outcomes.append)

    worker.drain()

    assert [o.status for o in outcomes] == ["retrying", "retrying", "failed"]
    retry_gaps = [
        (b.retry_at - a.retry_at).total_seconds()
        for a, b in itertools.pairwise(outcomes)
        if a.retry_at and b.retry_at
    ]
    assert all(gap >= 0.05 for gap in retry_gaps)
    job = service.job(queued_job(accepted))
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.last_error == "error: the stack is locked by another update"
    view = service.show("acme")
    assert view.state == "failed"
    assert view.last_error == "provision failed: error: the stack is locked by another update"
    history = service.history("acme", events=True)
    runs = [o for o in history if o.mode is not None]
    assert [o.status for o in reversed(runs)] == ["retrying", "retrying", "failed"]
    assert runs[0].events == ["up acme: error: error: the stack is locked by another update"]
    # A failed tenant can be brought back.
    service.run("acme", JobKind.UP, actor=ACTOR)
    Worker(registry, queue_settings, RecordingRunner()).drain()
    assert service.show("acme").display_state == "active (plan)"
    assert service.show("acme").last_error is None


def test_non_retryable_failure_fails_at_once(registry: Database, queue_settings: Settings) -> None:
    service = TenantService(registry, queue_settings)
    accepted = service.create(spec_data("acme"), actor=ACTOR)
    runner = FailingRunner("invalid program: no such resource type", retryable=False)

    Worker(registry, queue_settings, runner).drain()

    view = service.show("acme")
    assert view.state == "failed"
    assert "invalid program: no such resource type" in (view.last_error or "")
    assert service.job(queued_job(accepted)).attempts == 1


def test_backoff_doubles_up_to_the_cap(registry: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, retry_backoff_seconds=5.0, retry_backoff_max_seconds=30.0)
    queue = JobQueue(registry, settings)
    assert [queue.backoff(n) for n in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 30.0, 30.0]


def test_an_expired_lease_moves_the_job_and_the_old_owner_cannot_settle_it(
    registry: Database, queue_settings: Settings
) -> None:
    service = TenantService(registry, queue_settings)
    service.create(spec_data("acme"), actor=ACTOR)
    queue = JobQueue(registry, queue_settings)
    stale = queue.claim("worker-1")
    assert stale is not None
    assert queue.claim("worker-2") is None  # leased
    time.sleep(queue_settings.lease_seconds + 0.1)
    taken = queue.claim("worker-2")
    assert taken is not None and (taken.id, taken.attempt) == (stale.id, 2)

    assert queue.renew(stale) is False
    with (
        pytest.raises(LeaseLostError, match="no longer owned by worker-1"),
        registry.transaction() as s,
    ):
        queue.complete(s, stale)
    with registry.transaction() as session:
        queue.complete(session, taken)
    assert service.job(taken.id).status == "succeeded"


def _start_worker_process(settings: Settings, runner_delay: float, record: Path) -> SpawnProcess:
    factory = functools.partial(recording_runner, delay=runner_delay, record_dir=record)
    process = multiprocessing.get_context("spawn").Process(
        target=_process_main, args=(settings, factory, False)
    )
    process.start()
    return process


def test_a_worker_killed_mid_job_is_replaced_after_the_lease(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, queue_settings)
    accepted = service.create(spec_data("acme"), actor=ACTOR)
    record = tmp_path / "record"
    record.mkdir()
    victim = _start_worker_process(queue_settings, 60.0, record)
    wait_for(lambda: bool(read_lines(record / "started.log")), "the job to start")

    os.kill(victim.pid or 0, signal.SIGKILL)
    victim.join()
    killed_at = time.monotonic()
    Worker(registry, queue_settings, RecordingRunner(record_dir=record)).drain()

    assert time.monotonic() - killed_at >= queue_settings.lease_seconds * 0.5
    assert read_lines(record / "overlaps.log") == []
    job = service.job(queued_job(accepted))
    assert (job.status, job.attempts) == ("succeeded", 2)
    runs = [o for o in service.history("acme") if o.mode is not None]
    assert [o.status for o in reversed(runs)] == ["interrupted", "succeeded"]
    assert "lease expired" in (runs[1].error or "")
    assert service.show("acme").display_state == "active (plan)"


def test_sigterm_finishes_the_current_job_then_stops(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, queue_settings)
    first = service.create(spec_data("acme"), actor=ACTOR)
    second = service.create(spec_data("globex"), actor=ACTOR)
    record = tmp_path / "record"
    record.mkdir()
    worker = _start_worker_process(queue_settings, 1.0, record)
    wait_for(lambda: bool(read_lines(record / "started.log")), "the job to start")

    os.kill(worker.pid or 0, signal.SIGTERM)
    worker.join(timeout=WAIT_SECONDS)

    assert worker.exitcode == 0
    assert service.job(queued_job(first)).status == "succeeded"
    assert service.job(queued_job(second)).status == "queued"


def test_a_second_sigterm_releases_the_job_at_once(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, queue_settings)
    accepted = service.create(spec_data("acme"), actor=ACTOR)
    record = tmp_path / "record"
    record.mkdir()
    worker = _start_worker_process(queue_settings, 60.0, record)
    wait_for(lambda: bool(read_lines(record / "started.log")), "the job to start")

    os.kill(worker.pid or 0, signal.SIGTERM)
    time.sleep(0.2)
    os.kill(worker.pid or 0, signal.SIGTERM)
    worker.join(timeout=WAIT_SECONDS)

    assert worker.exitcode == 128 + signal.SIGTERM
    job = service.job(queued_job(accepted))
    assert (job.status, job.attempts) == ("queued", 0)
    runs = [o for o in service.history("acme") if o.mode is not None]
    assert [o.status for o in runs] == ["interrupted"]
    # Another worker takes it straight away, without waiting for a lease.
    Worker(registry, queue_settings, RecordingRunner()).drain()
    assert service.job(queued_job(accepted)).status == "succeeded"


def test_claims_never_hand_one_job_to_two_workers(
    registry: Database, queue_settings: Settings
) -> None:
    service = TenantService(registry, queue_settings)
    for i in range(12):
        service.create(spec_data(f"tenant-{i:02d}"), actor=ACTOR)
    queue = JobQueue(registry, queue_settings)
    claimed: list[ClaimedJob] = []
    lock = threading.Lock()

    def grab(name: str) -> None:
        while (job := queue.claim(name)) is not None:
            with lock:
                claimed.append(job)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(j.id for j in claimed) == sorted(set(j.id for j in claimed))
    assert len(claimed) == 12


def test_a_job_longer_than_its_lease_keeps_it_by_heartbeat(
    registry: Database, queue_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, queue_settings)
    accepted = service.create(spec_data("acme"), actor=ACTOR)
    record = tmp_path / "record"
    record.mkdir()
    slow = functools.partial(
        recording_runner, delay=queue_settings.lease_seconds * 1.6, record_dir=record
    )

    run_threads(queue_settings, slow, count=2, drain=True, install_signals=False)

    assert read_lines(record / "overlaps.log") == []
    assert read_lines(record / "runs.log") == ["acme up"]
    job = service.job(queued_job(accepted))
    assert (job.status, job.attempts) == ("succeeded", 1)
