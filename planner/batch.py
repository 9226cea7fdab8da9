"""Plans for a fleet: many stacks across worker processes, through the plan cache.

Work is handed out slowest first (by plan tier, then spec size), so the last tenants to
finish are small ones and every process stays busy to the end. Each plan is written to a
store (the plan cache, or a scratch one with the cache off) and read back one at a time
in the caller's order, so no process ever holds the whole fleet's plans.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from components.spec import TenantSpec
from components.stack_config import SPEC_KEY, InvalidStackError, spec_from_config
from planner.cache import ParsedSpecs, PlanCache, PlanInputs, canonical_json
from planner.model import PlanFailure, TenantPlan
from planner.program import (
    PlanError,
    batch_heap,
    plan_spec,
    planner_pool,
    start_planner_server,
)
from planner.stacks import StackDocument, StackFiles, UnknownTenantError

JobT = TypeVar("JobT")
ResultT = TypeVar("ResultT")

Progress = Callable[[int, int], None]
"""Called with (done, total) as planned stacks finish."""

MIN_PLANS_PER_PROCESS = 4
"""Below this many plans per process, starting processes costs more than it saves."""

# Plan tiers by how much they register (AZs, NAT, tables, roles), heaviest last.
_TIER_WEIGHT = {"free": 1, "starter": 2, "pro": 3, "enterprise": 4}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not all the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_count(workers: int, jobs: int) -> int:
    """Processes worth starting for `jobs` plans (`workers` 0: the available cores);
    1 means plan in this process."""
    wanted = workers or available_cores()
    return max(1, min(wanted, jobs // MIN_PLANS_PER_PROCESS))


@dataclass
class PoolStarter:
    """Starts the planner pool's fork server as soon as a run knows it will use the pool,
    so the server imports the program while the run is still reading its stacks."""

    workers: int
    preload: Sequence[str] = ()
    started: bool = False

    def expect(self, jobs: int) -> None:
        """At least `jobs` stacks are to be planned."""
        if not self.started and process_count(self.workers, jobs) > 1:
            self.started = True
            start_planner_server(self.preload)


def planning_weight(spec: Any) -> tuple[int, int]:
    """How long a stack should take to plan, relative to others: its tier, then its size."""
    mapping = spec if isinstance(spec, dict) else {}
    return _TIER_WEIGHT.get(str(mapping.get("plan")), 0), len(canonical_json(mapping))


def run_slowest_first(
    function: Callable[[JobT], ResultT],
    jobs: Sequence[tuple[tuple[int, int], JobT]],
    *,
    workers: int,
    preload: Sequence[str] = (),
) -> Iterator[ResultT]:
    """`function` over `(weight, job)` pairs, heaviest first; results as they complete."""
    ordered = [job for _weight, job in sorted(jobs, key=lambda pair: pair[0], reverse=True)]
    processes = process_count(workers, len(ordered))
    if processes <= 1:
        yield from map(function, ordered)
        return
    with planner_pool(processes, preload) as pool:
        # Submitted in order, a pool hands them out in order: the heaviest go first.
        futures: list[Future[ResultT]] = [pool.submit(function, job) for job in ordered]
        for future in as_completed(futures):
            yield future.result()


def document_spec(document: StackDocument) -> TenantSpec:
    """The validated spec of a stack as read (the file again only to explain a bad one)."""
    if document.spec is None:
        return StackFiles(document.path.parent).read_spec(document.stack)
    return spec_from_config(document.stack, {SPEC_KEY: document.spec})


def plan_document(document: StackDocument) -> TenantPlan:
    return plan_spec(document_spec(document))


def failure_of(document: StackDocument, error: Exception) -> PlanFailure:
    return PlanFailure(tenant=document.stack, stack_file=str(document.path), error=str(error))


PLAN_ERRORS = (InvalidStackError, UnknownTenantError, PlanError)
"""Why a stack may not plan: each explains itself in one message."""


@dataclass(frozen=True)
class _PlanJob:
    document: StackDocument
    key: str
    store: PlanCache


def _plan_job(job: _PlanJob) -> tuple[str, PlanFailure | None]:
    with batch_heap():
        try:
            plan = plan_document(job.document)
        except PLAN_ERRORS as error:
            return job.document.stack, failure_of(job.document, error)
        job.store.put(job.key, plan.model_dump(mode="json"))
    return job.document.stack, None


@dataclass
class FleetPlans:
    """The selected stacks' plans, read from the store one at a time in selection order."""

    documents: list[StackDocument]
    keys: dict[str, str]
    failures: dict[str, PlanFailure]
    store: PlanCache
    reused: int
    """Plans served from the cache instead of planned."""

    def __iter__(self) -> Iterator[TenantPlan | PlanFailure]:
        for document in self.documents:
            failure = self.failures.get(document.stack)
            if failure is not None:
                yield failure
                continue
            yield self._read(document)

    def _read(self, document: StackDocument) -> TenantPlan | PlanFailure:
        try:
            return TenantPlan.model_validate(self.store.get(self.keys[document.stack]))
        except ValidationError:
            pass  # trimmed by another process since it was planned: plan it again here
        try:
            return plan_document(document)
        except PLAN_ERRORS as error:
            return failure_of(document, error)


@contextlib.contextmanager
def plan_fleet(
    stacks_dir: Path,
    tenants: Iterable[str],
    *,
    cache: PlanCache | None,
    workers: int = 0,
    on_progress: Progress | None = None,
) -> Iterator[FleetPlans]:
    """Plan the named stacks, reusing cached plans; iterate the result to read them.

    Without a cache, plans go to a scratch store removed when the block ends.
    """
    inputs = PlanInputs.of_project()
    parsed = ParsedSpecs.load(cache, inputs) if cache is not None else None
    documents = list(StackFiles(stacks_dir).documents(dict.fromkeys(tenants), parsed))
    if parsed is not None:
        parsed.save()
    with contextlib.ExitStack() as scope:
        store = cache
        if store is None:
            scratch = scope.enter_context(tempfile.TemporaryDirectory(prefix="tenant-plans-"))
            store = PlanCache(Path(scratch)).open()
        keys = {d.stack: inputs.plan_key(d.stack, d.spec) for d in documents}
        jobs = [
            (planning_weight(d.spec), _PlanJob(d, keys[d.stack], store))
            for d in documents
            if cache is None or d.spec is None or not cache.contains(keys[d.stack])
        ]
        failures: dict[str, PlanFailure] = {}
        for done, (stack, failure) in enumerate(
            run_slowest_first(_plan_job, jobs, workers=workers), start=1
        ):
            if failure is not None:
                failures[stack] = failure
            if on_progress is not None:
                on_progress(done, len(jobs))
        yield FleetPlans(documents, keys, failures, store, len(documents) - len(jobs))
        if cache is not None and (jobs or (parsed and parsed.added)):
            cache.trim()  # only a run that wrote can have grown it
