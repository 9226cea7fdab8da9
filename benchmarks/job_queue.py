"""Job queue throughput: jobs per second and overhead per job with a no-op runner.

For 1, 2 and 4 workers (threads by default, `--processes` for worker processes) on a fresh
SQLite file and, when `TENANTS_TEST_POSTGRES_URL` is set (see `scripts/postgres.sh`), on
PostgreSQL. Each round queues `jobs` previews spread over `tenants` tenants (jobs of one
tenant run one at a time, in order) and times the drain. Overhead per job is worker time
per job: everything the queue, the lease, the operation log and the lifecycle add.

Run: `.venv/bin/python -m benchmarks.job_queue [--jobs 400] [--tenants 50] [--processes]`.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from components.spec import TenantSpec
from control_plane.queue.jobs import JobKind, JobQueue
from control_plane.queue.worker import run_processes, run_threads
from control_plane.registry.database import Database, open_database
from control_plane.registry.runs import RunMode, RunResult, StackOperation
from control_plane.runners.base import UNFENCED, EventSink, Fence
from control_plane.service import TenantService
from control_plane.settings import Settings

BENCH_SCHEMA = "queue_benchmark"


class NoopRunner:
    """Returns at once: what is measured is the queue and the bookkeeping around a run."""

    mode = RunMode.PLAN

    def _done(self, operation: StackOperation, on_event: EventSink) -> RunResult:
        on_event(f"plan: {operation.value} (no-op)")
        return RunResult(operation=operation, mode=self.mode)

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._done(StackOperation.UP, on_event)

    def preview(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._done(StackOperation.PREVIEW, on_event)

    def refresh(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._done(StackOperation.REFRESH, on_event)

    def destroy(
        self, spec: TenantSpec, on_event: EventSink, *, purge: bool, fence: Fence = UNFENCED
    ) -> RunResult:
        return self._done(StackOperation.DESTROY, on_event)

    def drift(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._done(StackOperation.DRIFT, on_event)

    def outputs(self, tenant_id: str) -> dict[str, Any]:
        return {}


def noop_runner(_settings: Settings) -> NoopRunner:
    return NoopRunner()


def _empty_postgres_schema(url: str) -> str:
    """`url` on a fresh schema of its own, leaving every other schema alone."""
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
    database.dispose()
    options = {"options": f"-csearch_path={BENCH_SCHEMA}"}
    return make_url(url).update_query_dict(options).render_as_string(hide_password=False)


def _fill(settings: Settings, jobs: int, tenants: int) -> None:
    database = open_database(settings.registry_url)
    service = TenantService(database, settings)
    names = [f"bench-{i:03d}" for i in range(tenants)]
    spec = {"plan": "starter", "region": "eu-west-1", "residency": "eu"}
    for name in names:
        service.create({"tenant_id": name, **spec}, actor="bench")
    # Provisions count as jobs too; previews top the queue up to `jobs`.
    for i in range(jobs - tenants):
        service.run(names[i % tenants], JobKind.PREVIEW, actor="bench")
    database.dispose()


def _round(settings: Settings, workers: int, jobs: int, tenants: int, processes: bool) -> float:
    _fill(settings, jobs, tenants)
    started = time.perf_counter()
    if processes:
        run_processes(settings, noop_runner, count=workers, drain=True)
    else:
        run_threads(settings, noop_runner, count=workers, drain=True, install_signals=False)
    elapsed = time.perf_counter() - started
    database = open_database(settings.registry_url)
    left = JobQueue(database, settings).unfinished()
    database.dispose()
    if left:
        raise SystemExit(f"{left} jobs left unfinished")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--processes", action="store_true", help="workers as processes")
    args = parser.parse_args()
    if args.jobs < args.tenants:
        parser.error("--jobs must be at least --tenants (each tenant is provisioned once)")

    backends = ["sqlite"]
    postgres_url = os.environ.get("TENANTS_TEST_POSTGRES_URL", "")
    if postgres_url:
        backends.append("postgresql")
    else:
        print("PostgreSQL skipped: TENANTS_TEST_POSTGRES_URL is not set (scripts/postgres.sh)")
    kind = "processes" if args.processes else "threads"
    print(f"{args.jobs} jobs over {args.tenants} tenants, no-op runner, workers as {kind}")
    print(f"{'backend':<11} {'workers':>7} {'seconds':>8} {'jobs/s':>8} {'ms/job/worker':>14}")
    for backend in backends:
        for workers in (1, 2, 4):
            with tempfile.TemporaryDirectory() as scratch:
                url = _empty_postgres_schema(postgres_url) if backend == "postgresql" else ""
                settings = Settings(
                    data_dir=Path(scratch),
                    stacks_dir=Path(scratch) / "stacks",
                    database_url=url,
                    poll_interval_seconds=0.01,
                    lease_seconds=30,
                )
                elapsed = _round(settings, workers, args.jobs, args.tenants, args.processes)
            rate = args.jobs / elapsed
            overhead_ms = elapsed * workers / args.jobs * 1000
            print(f"{backend:<11} {workers:>7} {elapsed:>8.2f} {rate:>8.1f} {overhead_ms:>14.1f}")


if __name__ == "__main__":
    main()
