"""The offline runner end to end on real specs: the real program under mocks, plans on disk."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from components.spec import TenantSpec
from control_plane.registry.runs import RunMode, StackOperation
from control_plane.runners.automation import REPO_ROOT
from control_plane.runners.base import RunnerError
from control_plane.runners.offline import OfflineRunner, pack_violations
from planner.model import TenantPlan
from planner.program import plan_spec

SpecFactory = Callable[..., TenantSpec]

ASG = "aws:autoscaling/group:Group"


def allow_all(spec: TenantSpec, plan: TenantPlan) -> list[str]:
    return []


@pytest.fixture
def runner(data_dir: Path) -> OfflineRunner:
    return OfflineRunner(data_dir, policy_check=allow_all)


def _asg_capacity(runner: OfflineRunner, tenant: str) -> tuple[float, float, float]:
    record = runner.store.load(tenant)
    assert record is not None
    [group] = record.plan.by_type(ASG)
    return (group.inputs["minSize"], group.inputs["desiredCapacity"], group.inputs["maxSize"])


def test_up_records_a_plan_and_marks_every_line(
    runner: OfflineRunner, spec: TenantSpec, data_dir: Path, events: list[str]
) -> None:
    result = runner.up(spec, events.append)

    assert result.mode is RunMode.PLAN
    assert result.operation is StackOperation.UP
    assert result.changes["create"] == result.resource_count > 50
    assert result.changes["update"] == result.changes["delete"] == result.changes["same"] == 0
    assert result.outputs["tenant"] == "acme"
    assert result.outputs["bucket_names"]
    assert (data_dir / "plans" / "acme.json").is_file()
    assert events
    assert all(line.startswith("plan: ") for line in events)
    assert "nothing is deployed" in events[0]


def test_the_same_spec_plans_no_change(runner: OfflineRunner, spec: TenantSpec) -> None:
    first = runner.up(spec, lambda line: None)

    again = runner.up(spec, lambda line: None)

    assert again.changes == {"create": 0, "update": 0, "delete": 0, "same": first.resource_count}


def test_scaling_counts_updates_against_the_previous_plan(
    runner: OfflineRunner, make_spec: SpecFactory, events: list[str]
) -> None:
    runner.up(make_spec(), lambda line: None)
    scaled = make_spec(compute={"min_size": 1, "desired_capacity": 2, "max_size": 3})

    result = runner.up(scaled, events.append)

    assert result.changes["create"] == 0
    assert result.changes["delete"] == 0
    assert result.changes["update"] >= 1
    assert result.changes["same"] == result.resource_count - result.changes["update"]
    assert "plan: update aws:autoscaling/group:Group acme-compute-asg" in events
    assert _asg_capacity(runner, "acme") == (1, 2, 3)


def test_a_new_bucket_is_counted_as_created(
    runner: OfflineRunner, make_spec: SpecFactory, events: list[str]
) -> None:
    runner.up(make_spec(), lambda line: None)
    grown = make_spec(
        storage={"buckets": [{"role": "data"}, {"role": "uploads"}], "table": {"hash_key": "pk"}}
    )

    result = runner.up(grown, events.append)

    created = [line for line in events if line.startswith("plan: create ")]
    assert result.changes["create"] == len(created) >= 2
    assert any(line.startswith("plan: create aws:s3/bucket:Bucket ") for line in created)
    assert result.changes["delete"] == 0


def test_suspend_scales_compute_to_zero_and_resume_restores_it(
    runner: OfflineRunner, make_spec: SpecFactory
) -> None:
    active = make_spec(compute={"min_size": 1, "desired_capacity": 2, "max_size": 3})
    runner.up(active, lambda line: None)
    buckets_before = runner.outputs("acme")["bucket_names"]

    suspended = runner.up(active.model_copy(update={"suspended": True}), lambda line: None)

    assert _asg_capacity(runner, "acme") == (0, 0, 0)
    assert suspended.changes["update"] >= 1
    # Data is untouched by a suspend.
    assert runner.outputs("acme")["bucket_names"] == buckets_before

    resumed = runner.up(active, lambda line: None)

    assert _asg_capacity(runner, "acme") == (1, 2, 3)
    assert resumed.changes["update"] >= 1
    assert resumed.resource_count == runner.up(active, lambda line: None).changes["same"]


def test_preview_counts_changes_without_recording(
    runner: OfflineRunner, make_spec: SpecFactory, data_dir: Path
) -> None:
    runner.up(make_spec(), lambda line: None)
    recorded = (data_dir / "plans" / "acme.json").read_bytes()

    result = runner.preview(make_spec(suspended=True), lambda line: None)

    assert result.operation is StackOperation.PREVIEW
    assert result.mode is RunMode.PLAN
    assert result.changes["update"] >= 1
    assert (data_dir / "plans" / "acme.json").read_bytes() == recorded


def test_destroy_lists_the_data_it_keeps_and_forgets_the_plan(
    runner: OfflineRunner, spec: TenantSpec, events: list[str]
) -> None:
    up = runner.up(spec, lambda line: None)
    outputs = up.outputs

    result = runner.destroy(spec, events.append, purge=False)

    assert result.mode is RunMode.PLAN
    assert result.operation is StackOperation.DESTROY
    kinds = {line.split(" ", 1)[0] for line in result.retained}
    assert kinds == {"Bucket", "Key", "Secret", "Table"}
    for bucket in outputs["bucket_names"].values():
        assert f"Bucket {bucket}" in result.retained
    assert f"Table {outputs['table_name']}" in result.retained
    assert f"Key {outputs['key_arn'].rsplit('/', 1)[-1]}" in result.retained
    assert 0 < result.changes["delete"] < up.resource_count - len(result.retained)
    assert all(f"plan: retain {line}" in events for line in result.retained)
    with pytest.raises(RunnerError, match=r"tenant 'acme' has no recorded plan"):
        runner.outputs("acme")


def test_purge_keeps_nothing(runner: OfflineRunner, spec: TenantSpec) -> None:
    up = runner.up(spec, lambda line: None)

    result = runner.destroy(spec, lambda line: None, purge=True)

    assert result.retained == []
    assert result.changes == {"delete": up.resource_count}


def test_destroying_an_unplanned_tenant_deletes_nothing(
    runner: OfflineRunner, spec: TenantSpec
) -> None:
    result = runner.destroy(spec, lambda line: None, purge=False)

    assert result.changes == {"delete": 0}
    assert result.retained == []


def test_refresh_reports_the_recorded_plan_as_unchanged(
    runner: OfflineRunner, spec: TenantSpec
) -> None:
    up = runner.up(spec, lambda line: None)

    result = runner.refresh(spec, lambda line: None)

    assert result.mode is RunMode.PLAN
    assert result.changes == {"same": up.resource_count}


def test_a_mandatory_violation_refuses_and_records_nothing(
    data_dir: Path, spec: TenantSpec, events: list[str]
) -> None:
    seen: list[tuple[str, int]] = []

    def refuse(checked: TenantSpec, plan: TenantPlan) -> list[str]:
        seen.append((checked.tenant_id, len(plan.resources)))
        return ["tenant-plan-limits: too big"]

    runner = OfflineRunner(data_dir, policy_check=refuse)

    result = runner.up(spec, events.append)

    assert seen and seen[0][0] == "acme" and seen[0][1] > 50
    assert result.policy_violations == ["tenant-plan-limits: too big"]
    assert result.changes == {}
    assert "plan: policy mandatory: tenant-plan-limits: too big" in events
    assert not (data_dir / "plans" / "acme.json").exists()


def test_outputs_of_an_unknown_tenant_is_an_error(runner: OfflineRunner) -> None:
    with pytest.raises(RunnerError, match=r"tenant 'ghost' has no recorded plan; run `up` first"):
        runner.outputs("ghost")


def test_an_unreadable_plan_file_names_the_file(
    runner: OfflineRunner, spec: TenantSpec, data_dir: Path
) -> None:
    (data_dir / "plans").mkdir(parents=True)
    (data_dir / "plans" / "acme.json").write_text('{"spec": {}}')

    with pytest.raises(RunnerError, match=r"plans/acme\.json is unreadable.*delete it"):
        runner.up(spec, lambda line: None)


def test_another_process_reads_the_recorded_plan(
    runner: OfflineRunner, spec: TenantSpec, data_dir: Path
) -> None:
    outputs = runner.up(spec, lambda line: None).outputs
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from control_plane.runners.offline import OfflineRunner\n"
        "print(json.dumps(OfflineRunner(Path(sys.argv[1])).outputs('acme')))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert json.loads(done.stdout) == json.loads(json.dumps(outputs))


def test_threads_planning_different_tenants_do_not_mix_resources(
    runner: OfflineRunner, make_spec: SpecFactory
) -> None:
    specs = [make_spec(), make_spec(tenant_id="globex", network={"cidr": "10.64.16.0/20"})]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda spec: runner.up(spec, lambda line: None), specs))

    assert [r.outputs["tenant"] for r in results] == ["acme", "globex"]
    for tenant in ("acme", "globex"):
        record = runner.store.load(tenant)
        assert record is not None
        assert all(r.urn.startswith(f"urn:pulumi:{tenant}::") for r in record.plan.resources)


def test_the_policy_pack_finds_a_key_without_rotation(spec: TenantSpec) -> None:
    plan = plan_spec(spec)
    [key] = plan.by_type("aws:kms/key:Key")
    unrotated = key.model_copy(update={"inputs": {**key.inputs, "enableKeyRotation": False}})
    tampered = plan.model_copy(
        update={"resources": [unrotated if r.urn == key.urn else r for r in plan.resources]}
    )

    baseline = pack_violations(spec, plan)
    found = pack_violations(spec, tampered)

    rotation = [v for v in found if v.startswith("aws-kms-key-enable-rotation: ")]
    assert rotation
    assert not any(v.startswith("aws-kms-key-enable-rotation: ") for v in baseline)


def test_planning_works_after_asyncio_run_cleared_the_loop(
    runner: OfflineRunner, spec: TenantSpec
) -> None:
    async def nothing() -> None:
        return None

    # Leaves the main thread without a current event loop, as any asyncio user may.
    asyncio.run(nothing())

    assert runner.up(spec, lambda line: None).changes["create"] > 50
