"""Fencing: a worker that lost its lease commits nothing, on SQLite and PostgreSQL.

The paused worker is a real process stopped with SIGSTOP after planning and before its
plan is committed, and continued with SIGCONT after another worker took its job over and
ran a newer spec of the same tenant.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from components.spec import TenantSpec
from control_plane.queue.jobs import JobQueue
from control_plane.queue.worker import Worker, _process_main
from control_plane.registry.database import Database, open_database
from control_plane.registry.models import Job, Operation, Tenant
from control_plane.registry.repository import OperationStatus
from control_plane.runners.base import LeaseLost, Unfenced
from control_plane.runners.offline import OfflineRunner, PlanRecord, PlanStore
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.control_plane.control_plane_helpers import (
    RecordingRunner,
    allow_all,
    make_settings,
    pausable_offline_runner,
    queued_job,
    read_lines,
    spec_data,
)

ACTOR = "test"
WAIT_SECONDS = 60.0


def wait_for(path: Path, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not read_lines(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def fenced_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, lease_seconds=1.0)


@pytest.fixture
def registry(fenced_settings: Settings) -> Iterator[Database]:
    database = open_database(fenced_settings.registry_url)
    yield database
    database.dispose()


def locks_free(database: Database) -> bool:
    """Whether every job and tenant row (the whole file, on SQLite) can be locked now."""
    if database.dialect == "sqlite":
        connection = sqlite3.connect(database.engine.url.database or "", timeout=0.2)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
        return True
    try:
        with database.engine.begin() as session:
            session.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
            # One table at a time: selecting both at once is a cross join of every pair.
            for table_id in (Job.id, Tenant.id):
                session.execute(select(table_id).with_for_update())
    except OperationalError:
        return False
    return True


def pause(process: BaseProcess, database: Database) -> None:
    """SIGSTOP the worker between two of its transactions: a process stopped while it holds
    a lock (its heartbeat renewing, say) would block everyone, paused or not."""
    for _ in range(100):
        os.kill(process.pid or 0, signal.SIGSTOP)
        if locks_free(database):
            return
        os.kill(process.pid or 0, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the worker never paused outside a transaction")


def operations(database: Database, job_id: int) -> list[Operation]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(Operation)
                .where(Operation.job_id == job_id, Operation.mode.is_not(None))
                .order_by(Operation.id)
            )
        )


def test_a_paused_worker_commits_nothing_and_never_overwrites_a_newer_plan(
    registry: Database, fenced_settings: Settings, tmp_path: Path
) -> None:
    service = TenantService(registry, fenced_settings)
    first = queued_job(service.create(spec_data("acme"), actor=ACTOR))
    record = tmp_path / "record"
    record.mkdir()
    factory = functools.partial(pausable_offline_runner, record_dir=record)
    stale = multiprocessing.get_context("spawn").Process(
        target=_process_main, args=(fenced_settings, factory, False)
    )
    stale.start()
    try:
        wait_for(record / "planned.log", "the first worker to plan")
        pause(stale, registry)
        time.sleep(fenced_settings.lease_seconds * 1.5)

        # Another worker takes the job over, then runs a newer spec of the same tenant.
        worker = Worker(
            registry, fenced_settings, OfflineRunner(fenced_settings.data_dir, allow_all)
        )
        assert worker.run_one() is not None
        second = queued_job(service.update("acme", {"compute": {"max_size": 2}}, actor=ACTOR))
        assert worker.run_one() is not None
        store = PlanStore(fenced_settings.data_dir)
        newest = store.path("acme").read_bytes()

        (record / "go").touch()
        os.kill(stale.pid or 0, signal.SIGCONT)
        os.kill(stale.pid or 0, signal.SIGTERM)  # finish the current job, then stop
        stale.join(timeout=WAIT_SECONDS)
    finally:
        if stale.is_alive():
            os.kill(stale.pid or 0, signal.SIGCONT)
            stale.kill()
            stale.join()

    assert stale.exitcode == 0
    # The newer plan is still there, byte for byte.
    assert store.path("acme").read_bytes() == newest
    kept = store.load("acme")
    assert kept is not None
    assert kept.spec.compute.max_size == 2
    # The stale run's operation ended interrupted, with no result of its own.
    stale_run, taken_over = operations(registry, first)
    assert stale_run.status == OperationStatus.INTERRUPTED.value
    assert (stale_run.outputs, stale_run.changes, stale_run.resource_count) == ({}, {}, None)
    assert taken_over.status == OperationStatus.SUCCEEDED.value
    assert [o.status for o in operations(registry, second)] == ["succeeded"]
    for job_id in (first, second):
        assert service.job(job_id).status == "succeeded"
    assert service.job(first).attempts == 2
    view = service.show("acme")
    assert (view.state, view.spec_version, view.last_error) == ("active", 2, None)
    assert view.outputs == kept.plan.stack_outputs


def test_a_worker_paused_between_claim_and_start_leaves_the_new_run_alone(
    registry: Database, fenced_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = TenantService(registry, fenced_settings)
    job_id = queued_job(service.create(spec_data("acme"), actor=ACTOR))
    queue = JobQueue(registry, fenced_settings)
    stale_claim = queue.claim("paused-worker")
    assert stale_claim is not None
    time.sleep(fenced_settings.lease_seconds * 1.2)
    taken = queue.claim("other-worker")
    assert taken is not None and taken.lease_generation > stale_claim.lease_generation
    runner = RecordingRunner()
    ran: list[str] = []
    monkeypatch.setattr(runner, "up", lambda *args, **kwargs: ran.append("up"))
    stale = Worker(registry, fenced_settings, runner, name="paused-worker")
    monkeypatch.setattr(stale.queue, "claim", lambda owner: stale_claim)

    outcome = stale.run_one()

    assert outcome is not None
    assert (outcome.status, outcome.operation_id) == (OperationStatus.INTERRUPTED, None)
    assert "no longer owned by paused-worker" in (outcome.error or "")
    assert ran == []
    assert operations(registry, job_id) == []
    assert service.job(job_id).status == "running"  # still the other worker's
    assert service.show("acme").state == "pending"


class _Fence:
    """A lease with a given token, held or already taken over."""

    def __init__(self, token: int, *, held: bool = True) -> None:
        self.token = token
        self.held = held

    def check(self) -> None:
        if not self.held:
            raise LeaseLost("taken over")

    watch = Unfenced.watch


def test_the_plan_store_refuses_an_older_writer_and_a_lost_lease(tmp_path: Path) -> None:
    runner = OfflineRunner(tmp_path, allow_all)
    spec = TenantSpec.model_validate({**spec_data("acme"), "network": {"cidr": "10.64.0.0/20"}})
    assert runner.up(spec, lambda line: None, _Fence(5)).outputs
    path = runner.store.path("acme")
    before = path.read_bytes()
    older = spec.model_copy(update={"display_name": "stale"})

    with pytest.raises(LeaseLost, match=r"newer run \(lease generation 5, this run 4\)"):
        runner.up(older, lambda line: None, _Fence(4))
    with pytest.raises(LeaseLost, match="taken over"):
        runner.up(older, lambda line: None, _Fence(6, held=False))
    with pytest.raises(LeaseLost):
        runner.destroy(older, lambda line: None, purge=False, fence=_Fence(4))

    assert path.read_bytes() == before
    assert PlanRecord.model_validate_json(before).lease_generation == 5
    runner.up(older, lambda line: None, _Fence(6))
    record = runner.store.load("acme")
    assert record is not None and record.spec.display_name == "stale"
