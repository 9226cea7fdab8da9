"""Helpers of the control plane tests: settings, spec requests and stand-in stack runners.

The runners stand in for the real ones (which have their own tests) in queue and worker
tests. Worker processes import them too (spawned children re-import this module), and they
record every run in files so a test can check overlap and exactly-once completion across
processes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import time
from pathlib import Path
from typing import Any

from components.spec import TenantSpec
from control_plane.registry.runs import RunMode, RunResult, StackOperation
from control_plane.runners.base import UNFENCED, EventSink, Fence, RunnerError
from control_plane.runners.offline import OfflineRunner
from control_plane.service import Accepted
from control_plane.settings import Settings
from planner.model import TenantPlan


class RecordingRunner:
    """Succeeds after `delay` seconds; records each run and any overlap per tenant."""

    mode = RunMode.PLAN

    def __init__(self, *, delay: float = 0.0, record_dir: Path | None = None) -> None:
        self.delay = delay
        self.record_dir = record_dir

    def _run(self, operation: StackOperation, spec: TenantSpec, on_event: EventSink) -> None:
        on_event(f"{operation.value} {spec.tenant_id}: started")
        if self.record_dir is None:
            time.sleep(self.delay)
            return
        # flock is released by the kernel when a process dies, so a killed worker's run
        # does not count as overlapping the next one.
        with open(self.record_dir / f"{spec.tenant_id}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _append(self.record_dir / "overlaps.log", f"{spec.tenant_id} {operation.value}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            _append(self.record_dir / "started.log", f"{spec.tenant_id} {os.getpid()}")
            time.sleep(self.delay)
            _append(self.record_dir / "runs.log", f"{spec.tenant_id} {operation.value}")
        on_event(f"{operation.value} {spec.tenant_id}: done")

    def _result(self, operation: StackOperation, spec: TenantSpec, **extra: Any) -> RunResult:
        low, desired, high = spec.effective_capacity
        return RunResult(
            operation=operation,
            mode=self.mode,
            changes={"same": 3},
            outputs={"tenant": spec.tenant_id, "capacity": [low, desired, high]},
            resource_count=3,
            **extra,
        )

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        self._run(StackOperation.UP, spec, on_event)
        return self._result(StackOperation.UP, spec)

    def preview(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        self._run(StackOperation.PREVIEW, spec, on_event)
        return self._result(StackOperation.PREVIEW, spec)

    def refresh(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        self._run(StackOperation.REFRESH, spec, on_event)
        return self._result(StackOperation.REFRESH, spec)

    def destroy(
        self, spec: TenantSpec, on_event: EventSink, *, purge: bool, fence: Fence = UNFENCED
    ) -> RunResult:
        self._run(StackOperation.DESTROY, spec, on_event)
        retained = [] if purge else [f"{spec.tenant_id}-data-bucket", f"{spec.tenant_id}-key"]
        return self._result(StackOperation.DESTROY, spec, retained=retained)

    def drift(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        self._run(StackOperation.DRIFT, spec, on_event)
        return self._result(StackOperation.DRIFT, spec)

    def outputs(self, tenant_id: str) -> dict[str, Any]:
        return {}


class FailingRunner(RecordingRunner):
    """Every `up` fails with `message`; retryable or not."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__()
        self.message = message
        self.retryable = retryable

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        on_event(f"up {spec.tenant_id}: error: {self.message}")
        raise RunnerError(self.message, retryable=self.retryable)


def recording_runner(
    _settings: Settings, *, delay: float = 0.0, record_dir: Path | None = None
) -> RecordingRunner:
    """A picklable runner factory for worker processes (use with functools.partial)."""
    return RecordingRunner(delay=delay, record_dir=record_dir)


def pausable_offline_runner(_settings: Settings, *, record_dir: Path) -> OfflineRunner:
    """The real offline runner (plan file and all) whose run, once planned, logs
    `planned.log` and holds until `record_dir/go` exists: a test can pause the process
    there, before the plan is committed (picklable with functools.partial)."""
    return OfflineRunner(
        _settings.data_dir, policy_check=functools.partial(_hold_after_planning, record_dir)
    )


def _hold_after_planning(record_dir: Path, spec: TenantSpec, _plan: TenantPlan) -> list[str]:
    _append(record_dir / "planned.log", f"{spec.tenant_id} {os.getpid()}")
    while not (record_dir / "go").exists():
        time.sleep(0.02)
    return []


def allow_all(_spec: TenantSpec, _plan: TenantPlan) -> list[str]:
    """A policy check that finds nothing (the runner tests check the pack itself)."""
    return []


def _append(path: Path, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line + "\n")


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def make_settings(tmp_path: Path, database_url: str = "", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "stacks_dir": tmp_path / "stacks",
        "database_url": database_url,
        "runner": "offline",
        "lease_seconds": 2.0,
        "retry_max_attempts": 3,
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 0.2,
        "poll_interval_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


def spec_data(tenant_id: str, plan: str = "starter", **extra: Any) -> dict[str, Any]:
    """A minimal valid spec request; the network is left to the allocator."""
    return {
        "tenant_id": tenant_id,
        "plan": plan,
        "region": "eu-west-1",
        "residency": "eu",
        **extra,
    }


def queued_job(accepted: Accepted) -> int:
    """The id of the job a request queued (failing the test when it queued none)."""
    assert accepted.job_id is not None, f"no job queued: {accepted.message}"
    return accepted.job_id
