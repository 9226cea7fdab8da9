"""The worker: claims jobs, runs them through a stack runner, settles the outcome.

A worker owns one job at a time under a lease that a heartbeat thread renews, streams the
runner's engine events into the operation log, and records the result, the tenant's new
lifecycle state and, on failure, a retry (exponential backoff) or the final error.

A worker that was paused past its lease (a stopped process, a long GC, a lost network)
may wake up after another worker took its job over. Its run is fenced: the start of the
operation, the runner's plan file and the final result are committed only while the job
still carries the claim's lease generation, and a lost lease cancels a deployment in
progress (`JobLease`).
Several workers (threads here, processes via `run_pool`, or other machines on a shared
PostgreSQL registry) cooperate through the queue alone.

Shutdown: the first SIGTERM stops claiming and lets the current job finish; a second one
hands the current job back to the queue at once (its attempt is not counted) and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from sqlalchemy.exc import OperationalError

from components.spec import TenantSpec
from control_plane.logs import configure_for, log_context
from control_plane.queue.drift_schedule import DriftSchedule
from control_plane.queue.jobs import (
    APPLY_KINDS,
    STATE_CHANGING_KINDS,
    ClaimedJob,
    JobKind,
    JobQueue,
    LeaseLostError,
    lease_lost_message,
)
from control_plane.registry import cidr
from control_plane.registry.database import Database, open_database
from control_plane.registry.drift import clear_drift, record_drift
from control_plane.registry.lifecycle import Action, TenantState, next_state
from control_plane.registry.repository import OperationStatus, Registry
from control_plane.registry.runs import RunResult
from control_plane.runners.base import LeaseLost, RunnerError, StackRunner, running_job
from control_plane.settings import Settings
from planner.stacks import StackFiles

logger = logging.getLogger(__name__)

RunnerFactory = Callable[[Settings], StackRunner]
"""Builds the runner a worker uses (one per worker: runners need not be thread-safe)."""

EVENT_FLUSH_SECONDS = 0.5
EVENT_FLUSH_LINES = 200
REGISTRY_RETRY_SECONDS = 2.0


class EventLog:
    """Buffers a runner's engine events and appends them to the operation's log."""

    def __init__(self, database: Database, operation_id: int) -> None:
        self.database = database
        self.operation_id = operation_id
        self._buffer: list[str] = []
        self._next_seq = 1
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        logger.debug("operation %s: %s", self.operation_id, line)
        with self._lock:
            self._buffer.append(line)
            due = time.monotonic() - self._last_flush >= EVENT_FLUSH_SECONDS
        if due or len(self._buffer) >= EVENT_FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            first, self._next_seq = self._next_seq, self._next_seq + len(lines)
            self._last_flush = time.monotonic()
        if lines:
            with self.database.transaction() as session:
                Registry(session).append_events(self.operation_id, first, lines)


class JobLease:
    """The claim a run holds: renewed in the background, checked before every commit.

    This is the runners' `Fence`: `check` asks the registry whether the job still carries
    the claim's generation, and callbacks registered with `watch` run as soon as the
    heartbeat finds the lease gone (the Automation runner cancels its update there).
    """

    def __init__(self, queue: JobQueue, job: ClaimedJob) -> None:
        self._queue = queue
        self._job = job
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._lock = threading.Lock()
        self._watchers: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job.id}", daemon=True)

    @property
    def token(self) -> int:
        return self._job.lease_generation

    def check(self) -> None:
        if self._lost.is_set() or not self._queue.holds(self._job):
            self._lose()
            raise LeaseLost(lease_lost_message(self._job))

    @contextmanager
    def watch(self, on_lost: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._watchers.append(on_lost)
        try:
            yield
        finally:
            with self._lock:
                self._watchers.remove(on_lost)

    def __enter__(self) -> JobLease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        # A third of the lease leaves two chances to renew before another worker may claim.
        interval = self._queue.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                renewed = self._queue.renew(self._job)
            except OperationalError:
                logger.warning("could not renew the lease of job %s; retrying", self._job.id)
                continue
            if not renewed:
                logger.warning("lost the lease of job %s to another worker", self._job.id)
                self._lose()
                return

    def _lose(self) -> None:
        with self._lock:
            if self._lost.is_set():
                return
            self._lost.set()
            watchers = list(self._watchers)
        for on_lost in watchers:
            try:
                on_lost()
            except Exception:
                logger.exception("stopping the run of job %s failed", self._job.id)


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one claimed job."""

    job: ClaimedJob
    status: OperationStatus
    operation_id: int | None
    """None when the claim was lost before the operation started."""
    error: str | None = None
    retry_at: datetime | None = None


def worker_name(index: int = 0) -> str:
    """A name unique across machines, processes and threads (it owns leases)."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


class Worker:
    """Runs queued stack operations, one at a time."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        runner: StackRunner,
        *,
        name: str | None = None,
        stacks: StackFiles | None = None,
        on_outcome: Callable[[JobOutcome], None] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.runner = runner
        self.name = name or worker_name()
        self.stacks = stacks if stacks is not None else StackFiles(settings.stacks_dir)
        self.queue = JobQueue(database, settings)
        self.on_outcome = on_outcome
        self.drift_schedule = DriftSchedule(database, settings)
        self._current: tuple[ClaimedJob, int] | None = None

    def run_one(self) -> JobOutcome | None:
        """Claim and run one job; None when nothing is runnable now."""
        job = self.queue.claim(self.name)
        if job is None:
            return None
        outcome = self._process(job)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def run(self, stop: threading.Event) -> int:
        """Work until `stop` is set; the number of jobs run. Drift checks that are due are
        queued here, so wherever workers run, deployed tenants are checked on schedule."""
        done = 0
        while not stop.is_set():
            self._schedule_drift_checks()
            ran = self._step()
            if ran:
                done += 1
            elif ran is False:
                stop.wait(self.settings.poll_interval_seconds)
        return done

    def drain(self, stop: threading.Event | None = None) -> int:
        """Work until no job is queued, waiting for a retry or running anywhere."""
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set():
            ran = self._step()
            if ran:
                done += 1
            elif ran is False:
                if self.queue.unfinished() == 0:
                    break
                stop.wait(self.settings.poll_interval_seconds)
        return done

    def _step(self) -> bool | None:
        """Run one job: True if one ran, False if none was runnable, None if the registry
        was unreachable (after a pause)."""
        try:
            return self.run_one() is not None
        except OperationalError:
            # A claimed job keeps its lease and is taken again once the lease expires.
            logger.exception("registry unavailable; retrying in %ss", REGISTRY_RETRY_SECONDS)
            time.sleep(REGISTRY_RETRY_SECONDS)
            return None

    def _schedule_drift_checks(self) -> None:
        try:
            queued = self.drift_schedule.enqueue_due()
        except OperationalError:
            logger.warning("registry unavailable; drift checks are scheduled on a later pass")
            return
        if queued:
            logger.info("drift checks queued for %s tenant(s)", len(queued))

    def release_current(self) -> ClaimedJob | None:
        """Hand the running job back to the queue (hard shutdown); the job, if any."""
        current = self._current
        if current is None:
            return None
        job, operation_id = current
        if self.queue.release(job):
            with self.database.transaction() as session:
                Registry(session).finish_operation(
                    operation_id,
                    OperationStatus.INTERRUPTED,
                    error=f"worker {self.name} stopped; the job went back to the queue",
                )
        return job

    def _process(self, job: ClaimedJob) -> JobOutcome:
        with log_context(tenant=job.tenant_id, job=job.id):
            logger.info(
                "job %s: %s %s, attempt %s", job.id, job.kind.value, job.tenant_id, job.attempt
            )
            outcome = self._process_in_context(job)
            logger.info("job %s: %s", job.id, outcome.status.value)
            return outcome

    def _process_in_context(self, job: ClaimedJob) -> JobOutcome:
        result: RunResult | None = None
        error: str | None = None
        retryable = False
        # The lease is renewed from the claim on: waiting for the registry to record the
        # start must not let it expire under a busy database.
        with JobLease(self.queue, job) as lease:
            try:
                spec, operation_id = self._start(job)
            except LeaseLostError as lost:
                logger.warning("%s", lost)
                return JobOutcome(job, OperationStatus.INTERRUPTED, None, error=str(lost))
            if job.attempt > job.max_attempts:
                error = (
                    f"gave up after {job.max_attempts} attempts: the workers running it "
                    f"stopped before finishing (lease expired)"
                )
            else:
                result, error, retryable = self._attempt(job, spec, operation_id, lease)

        if result is not None and result.policy_violations:
            error = "refused by policy: " + "; ".join(result.policy_violations)
        if error is not None:
            return self._settle_failure(job, spec, operation_id, error, result, retryable=retryable)
        assert result is not None  # no error means the runner returned
        return self._settle_success(job, spec, operation_id, result)

    def _attempt(
        self, job: ClaimedJob, spec: TenantSpec, operation_id: int, lease: JobLease
    ) -> tuple[RunResult | None, str | None, bool]:
        """Run the job: its result, or the error and whether a retry may help."""
        self._current = (job, operation_id)
        events = EventLog(self.database, operation_id)
        try:
            # The job's name reaches the cell role's session name (CloudTrail shows it).
            with running_job(f"job-{job.id}"):
                return self._run(job, spec, events, lease), None, False
        except RunnerError as failure:
            return None, str(failure), failure.retryable
        except Exception as failure:
            # An unexpected runner fault must not kill the worker: record it and retry.
            logger.exception("job %s (%s %s) crashed", job.id, job.kind, job.tenant_id)
            return None, f"{type(failure).__name__}: {failure}", True
        finally:
            events.flush()
            self._current = None

    def _start(self, job: ClaimedJob) -> tuple[TenantSpec, int]:
        """Record the operation's start, if the claim still holds (a worker paused between
        claiming and starting must not close the operation of the worker that took over)."""
        with self.database.transaction() as session:
            self.queue.assert_held(session, job)
            registry = Registry(session)
            tenant = registry.tenant(job.tenant_id, for_update=True)
            spec = registry.spec(job.tenant_id, job.spec_version)
            if job.attempt > 1:
                registry.interrupt_running(
                    job.id,
                    "the worker running this attempt stopped before finishing (lease expired)",
                )
            if job.kind in APPLY_KINDS and tenant.state == TenantState.PENDING:
                tenant.state = next_state(tenant.id, TenantState.PENDING, Action.START)
            operation = registry.start_operation(
                job.tenant_id,
                job.kind.value,
                actor=job.actor,
                mode=self.runner.mode,
                spec_version=job.spec_version,
                job_id=job.id,
                message=f"attempt {job.attempt}/{job.max_attempts} on {self.name}",
            )
            return spec, operation.id

    def _run(
        self, job: ClaimedJob, spec: TenantSpec, events: EventLog, lease: JobLease
    ) -> RunResult:
        if job.kind in APPLY_KINDS:
            return self.runner.up(spec, events, lease)
        if job.kind is JobKind.PREVIEW:
            return self.runner.preview(spec, events, lease)
        if job.kind is JobKind.REFRESH:
            return self.runner.refresh(spec, events, lease)
        if job.kind is JobKind.DRIFT:
            return self.runner.drift(spec, events, lease)
        return self.runner.destroy(spec, events, purge=job.purge, fence=lease)

    def _settle_success(
        self, job: ClaimedJob, spec: TenantSpec, operation_id: int, result: RunResult
    ) -> JobOutcome:
        retired = False
        try:
            with self.database.transaction() as session:
                self.queue.complete(session, job)
                registry = Registry(session)
                registry.finish_operation(operation_id, OperationStatus.SUCCEEDED, result=result)
                tenant = registry.tenant(job.tenant_id, for_update=True)
                if job.kind is JobKind.DRIFT:
                    record_drift(
                        session,
                        job.tenant_id,
                        result,
                        spec_version=job.spec_version,
                        job_id=job.id,
                        operation_id=operation_id,
                    )
                elif job.kind in APPLY_KINDS:
                    # The stack now matches its spec: an earlier drift finding is repaired.
                    clear_drift(session, job.tenant_id)
                if job.kind in STATE_CHANGING_KINDS:
                    tenant.last_error = None
                    if not self.queue.has_later_state_change(session, job):
                        action = _settled_action(job.kind, spec)
                        tenant.state = next_state(tenant.id, TenantState(tenant.state), action)
                        if action is Action.RETIRED:
                            cidr.release(session, tenant.id)
                            retired = True
        except LeaseLostError as lost:
            return self._interrupted(job, operation_id, str(lost))
        if retired and self.stacks.path(job.tenant_id).is_file():
            # The stack is gone; its file would bring it back on the next GitOps `up`.
            self.stacks.remove(job.tenant_id)
        return JobOutcome(job, OperationStatus.SUCCEEDED, operation_id)

    def _settle_failure(
        self,
        job: ClaimedJob,
        spec: TenantSpec,
        operation_id: int,
        error: str,
        result: RunResult | None,
        *,
        retryable: bool,
    ) -> JobOutcome:
        try:
            with self.database.transaction() as session:
                retry_at = self.queue.fail(session, job, error, retryable=retryable)
                status = OperationStatus.FAILED if retry_at is None else OperationStatus.RETRYING
                registry = Registry(session)
                registry.finish_operation(operation_id, status, result=result, error=error)
                tenant = registry.tenant(job.tenant_id, for_update=True)
                if retry_at is not None:
                    tenant.last_error = (
                        f"{job.kind.value} attempt {job.attempt}/{job.max_attempts} failed, "
                        f"retrying after {retry_at:%Y-%m-%d %H:%M:%S} UTC: {error}"
                    )
                else:
                    tenant.last_error = f"{job.kind.value} failed: {error}"
                    if job.kind in STATE_CHANGING_KINDS and not self.queue.has_later_state_change(
                        session, job
                    ):
                        tenant.state = next_state(
                            tenant.id, TenantState(tenant.state), Action.FAILED
                        )
        except LeaseLostError as lost:
            return self._interrupted(job, operation_id, str(lost))
        logger.warning("job %s (%s %s) failed: %s", job.id, job.kind, job.tenant_id, error)
        return JobOutcome(job, status, operation_id, error=error, retry_at=retry_at)

    def _interrupted(self, job: ClaimedJob, operation_id: int, error: str) -> JobOutcome:
        """The claim was taken over: close this run's operation unless the new owner already
        did, and commit nothing else."""
        logger.warning("%s", error)
        with self.database.transaction() as session:
            Registry(session).interrupt_operation(operation_id, error)
        return JobOutcome(job, OperationStatus.INTERRUPTED, operation_id, error=error)


def _settled_action(kind: JobKind, spec: TenantSpec) -> Action:
    if kind is JobKind.DEPROVISION:
        return Action.RETIRED
    return Action.SUSPENDED if spec.suspended else Action.ACTIVATED


class Shutdown:
    """SIGTERM/SIGINT handling: the first asks to finish, the second releases and exits."""

    def __init__(self, workers: list[Worker]) -> None:
        self.stop = threading.Event()
        self.workers = workers

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGTERM and SIGINT while the workers run (main thread only)."""
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop.is_set():
            logger.info("signal %s: finishing the current job, then stopping", signum)
            self.stop.set()
            return
        for worker in self.workers:
            released = worker.release_current()
            if released is not None:
                logger.info("released job %s back to the queue", released.id)
        os._exit(128 + signum)


def run_threads(
    settings: Settings,
    make_runner: RunnerFactory,
    *,
    count: int,
    drain: bool,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Run `count` workers as threads of this process; the number of jobs they ran."""
    database = open_database(settings.registry_url)
    workers = [
        Worker(
            database, settings, make_runner(settings), name=worker_name(i), on_outcome=on_outcome
        )
        for i in range(count)
    ]
    shutdown = Shutdown(workers)
    totals: list[int] = []

    def work(worker: Worker) -> None:
        totals.append(worker.drain(shutdown.stop) if drain else worker.run(shutdown.stop))

    threads = [threading.Thread(target=work, args=(w,), name=w.name) for w in workers]
    with shutdown.installed() if install_signals else nullcontext():
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            # Join in slices so the main thread keeps handling signals.
            for thread in threads:
                thread.join(timeout=0.2)
    database.dispose()
    return sum(totals)


def _process_main(settings: Settings, make_runner: RunnerFactory, drain: bool) -> None:
    configure_for(settings)  # a spawned process starts with no logging configured
    run_threads(settings, make_runner, count=1, drain=drain)


def run_processes(
    settings: Settings, make_runner: RunnerFactory, *, count: int, drain: bool
) -> list[int]:
    """Run `count` worker processes until they stop; their exit codes.

    SIGTERM and SIGINT received here are passed on to every worker process.
    """
    open_database(settings.registry_url).dispose()  # migrate once, before the workers race
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process_main, args=(settings, make_runner, drain), daemon=False)
        for _ in range(count)
    ]
    for process in processes:
        process.start()

    def forward(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return [p.exitcode if p.exitcode is not None else -1 for p in processes]
