"""The planner's cheaper runtime plans and checks exactly what the SDK's own machinery does.

Plans answer registrations on the planning thread, resolve each output property through
one future and join URNs in one step; the gate asks resource policies only about the types
they validate. Each is compared here with the SDK's (or the pack's) way on real stacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi
import pytest

from planner import program
from planner.model import TenantPlan
from planner.program import plan_management_stack, plan_stack_file
from planner.stacks import PROJECT_ROOT
from policies import gate
from policies.gate import evaluate_plan
from policies.runner import check_stack_file

STACKS = sorted((PROJECT_ROOT / "stacks").glob("Pulumi.*.yaml"))
MANAGEMENT = PROJECT_ROOT / "stacks" / "management" / "Pulumi.silos.yaml"


def comparable(plan: TenantPlan) -> dict[str, Any]:
    """A plan without what the SDK leaves to scheduling: the order of resources and deps."""
    document = plan.model_dump(mode="json")
    for resource in document["resources"]:
        resource["dependencies"] = sorted(resource["dependencies"])
    document["resources"] = sorted(document["resources"], key=lambda r: r["urn"])
    return document


@contextlib.contextmanager
def sdk_runtime(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Plans through the SDK's thread pool, its four futures and a task per output, its
    own URN joins and its type helpers asked afresh each time."""
    with ThreadPoolExecutor(4, thread_name_prefix="sdk") as pool, monkeypatch.context() as m:
        m.setattr(program, "_ANSWER_AT_ONCE", pool)
        m.setattr(program, "_outputs_resolved_at_once", contextlib.nullcontext)
        m.setattr(program, "_type_hints_remembered", contextlib.nullcontext)
        yield


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.stem)
def test_a_tenant_plan_is_the_sdks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = plan_stack_file(path)
    with sdk_runtime(monkeypatch):
        reference = plan_stack_file(path)
    assert len(fast.resources) > 20
    assert comparable(fast) == comparable(reference)


def test_the_management_plan_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = plan_management_stack(MANAGEMENT)
    with sdk_runtime(monkeypatch):
        reference = plan_management_stack(MANAGEMENT)
    assert comparable(fast) == comparable(reference)


unchecked_sdk = pytest.mark.skipif(
    not program.SDK_INTERNALS_CHECKED,
    reason=f"pulumi {metadata.version('pulumi')} is not in planner.program.CHECKED_SDK_RELEASES:"
    " plans take the SDK's own path; run these tests with the release added to compare",
)


@unchecked_sdk
def test_urns_are_joined_as_the_sdk_joins_them(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs: list[list[str]] = []
    ours = program._create_urn

    def both(*args: Any) -> pulumi.Output[str]:
        urn = ours(*args)
        pulumi.Output.all(urn, program._sdk_create_urn(*args)).apply(pairs.append)
        return urn

    monkeypatch.setattr(program, "_create_urn", both)
    plan = plan_stack_file(STACKS[0])
    assert len(pairs) >= len(plan.resources)
    assert [a for a, b in pairs if a != b] == []


def test_the_runtime_is_restored_after_a_plan() -> None:
    from pulumi import _types as sdk_types  # noqa: PLC0415
    from pulumi.runtime import resource as sdk_resource  # noqa: PLC0415
    from pulumi.runtime import rpc  # noqa: PLC0415

    def runtime() -> tuple[Any, ...]:
        return (
            rpc.transfer_properties,
            sdk_resource.create_urn,
            sdk_resource._get_stack_trace,
            sdk_types.unwrap_type,
            sdk_types._is_union_type,
        )

    before = runtime()
    own_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(own_loop)
    try:
        plan_stack_file(STACKS[0])
        assert runtime() == before
        # The thread's own loop is back, and its executor still runs calls on other threads.
        assert asyncio.get_event_loop_policy().get_event_loop() is own_loop
        elsewhere = own_loop.run_in_executor(None, threading.get_ident)
        assert own_loop.run_until_complete(elsewhere) != threading.get_ident()
    finally:
        own_loop.close()


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.stem)
def test_scoped_resource_policies_find_what_every_resource_would(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_stack_file(path)
    scoped = evaluate_plan(plan)
    monkeypatch.setattr(gate, "resource_scope", lambda _policy: None)
    everything = evaluate_plan(plan)
    assert scoped.findings == everything.findings
    assert scoped.not_applicable == everything.not_applicable
    assert scoped.evaluated == everything.evaluated


def test_a_check_finds_the_same_twice_in_one_process() -> None:
    """Ranges and lenient stacks remembered between plans change no finding."""
    first = check_stack_file(STACKS[0])
    check_stack_file(STACKS[-1])
    again = check_stack_file(STACKS[0])
    assert first.findings == again.findings
    assert first.not_applicable == again.not_applicable


def test_a_batch_plan_leaves_no_resource_behind_and_the_collector_as_it_was() -> None:
    """The collector is off during a batch plan; the one collection after it finds the
    whole plan unreachable, so nothing of it outlives the plan."""
    import gc  # noqa: PLC0415

    assert gc.isenabled()
    for path in STACKS[:2]:  # the first freezes the warm heap (if no test did), then a batch plan
        gc.collect()  # what earlier tests left is not this plan's
        with program.batch_heap():
            assert not gc.isenabled()
            plan = plan_stack_file(path)
        assert gc.isenabled()
    assert len(plan.resources) > 20
    left = [o for o in gc.get_objects() if isinstance(o, pulumi.Resource)]
    assert left == []


def test_a_refused_registration_fails_the_plan_as_on_the_sdks_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Output properties are not tracked to the end of the program; a registration that
    fails still fails the plan, with its reason, on both paths, and only that plan."""
    real = program._PlanMocks.new_resource

    def refusing(self: program._PlanMocks, args: Any) -> Any:
        if args.typ == "aws:s3/bucket:Bucket":
            raise RuntimeError("bucket refused")
        return real(self, args)

    with monkeypatch.context() as refused:
        refused.setattr(program._PlanMocks, "new_resource", refusing)
        with pytest.raises(program.PlanError, match="bucket refused"):
            plan_stack_file(STACKS[0])
        with sdk_runtime(monkeypatch), pytest.raises(program.PlanError, match="bucket refused"):
            plan_stack_file(STACKS[0])
    # Nothing of the failed plans is left to fail the next plan in this process.
    assert len(plan_stack_file(STACKS[0]).resources) > 20
