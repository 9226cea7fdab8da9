"""How a fleet's plans are handed out: slowest first, to as many processes as pay off."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from control_plane.cli.fleet import FleetProgress
from planner import batch
from planner.batch import available_cores, planning_weight, process_count, run_slowest_first


def spec(plan: str, **extra: Any) -> dict[str, Any]:
    return {"tenant_id": f"t-{plan}", "plan": plan, **extra}


def test_heavier_plans_and_bigger_specs_weigh_more() -> None:
    ordered = [
        spec("enterprise", storage={"table": {}}),
        spec("enterprise"),
        spec("pro"),
        spec("starter"),
        spec("free"),
        None,  # an unreadable stack fails fast
    ]
    weights = [planning_weight(s) for s in ordered]
    assert weights == sorted(weights, reverse=True)


def test_jobs_are_handed_out_slowest_first() -> None:
    jobs = [(planning_weight(spec(p)), p) for p in ("free", "enterprise", "starter", "pro")]
    assert list(run_slowest_first(str.upper, jobs, workers=1)) == [
        "ENTERPRISE",
        "PRO",
        "STARTER",
        "FREE",
    ]


def test_worker_count_defaults_to_the_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "available_cores", lambda: 8)
    assert process_count(0, 1_000) == 8
    assert process_count(3, 1_000) == 3
    # A handful of plans is quicker in this process than starting a pool for them.
    assert process_count(0, 3) == 1
    assert process_count(0, 8) == 2
    assert available_cores() >= 1


def test_progress_shows_only_on_a_terminal_and_only_after_the_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with FleetProgress("checking", delay=0) as hidden:
        hidden(1, 10)
        assert hidden._progress is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with FleetProgress("checking", delay=60) as early:
        early(1, 10)
        assert early._progress is None
    with FleetProgress("checking", delay=0) as shown:
        shown(1, 10)
        assert shown._progress is not None
        assert shown._progress.tasks[0].completed == 1
    assert shown._progress is None  # closed before anything else is printed


def test_the_pool_server_starts_once_a_pool_is_sure(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        batch, "start_planner_server", lambda preload: started.append(tuple(preload))
    )
    single = batch.PoolStarter(workers=1, preload=["policies.runner"])
    single.expect(1_000)
    assert started == []  # one process plans in the caller: no server
    pair = batch.PoolStarter(workers=2, preload=["policies.runner"])
    pair.expect(batch.MIN_PLANS_PER_PROCESS)
    assert started == []  # too few plans for two processes
    pair.expect(2 * batch.MIN_PLANS_PER_PROCESS)
    pair.expect(3 * batch.MIN_PLANS_PER_PROCESS)
    assert started == [("policies.runner",)]  # once
