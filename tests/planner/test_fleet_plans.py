"""`tenantctl plan` and `check` over a fleet: streamed JSON, the plan cache, code changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from control_plane.cli import app
from planner.batch import plan_fleet
from planner.cache import PlanCache
from planner.model import PlanFailure, TenantPlan
from planner.program import plan_stack_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "stacks"
BROKEN = ROOT / "tests" / "policies" / "broken" / "stacks"


def tenantctl(*args: str, data: Path, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"TENANTS_DATA_DIR": str(data), **env})


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """Resources by URN, dependencies sorted: the SDK registers in no fixed order."""
    for tenant in document["tenants"]:
        tenant["resources"].sort(key=lambda r: r["urn"])
        for resource in tenant["resources"]:
            resource["dependencies"].sort()
    return document


def test_streamed_json_equals_the_whole_document(tmp_path: Path) -> None:
    streamed = tenantctl(
        "plan", "--all", "--json", "--stacks-dir", str(EXAMPLES), "--workers", "1",
        data=tmp_path,
    )  # fmt: skip
    assert streamed.exit_code == 0, streamed.stderr
    whole = {
        "tenants": [plan_stack_file(path).to_document() for path in sorted(EXAMPLES.glob("*.yaml"))]
    }
    assert normalised(json.loads(streamed.stdout)) == normalised(
        json.loads(json.dumps(whole, default=str))
    )
    # One tenant per line: a reader can take the fleet's document a tenant at a time.
    assert len(streamed.stdout.splitlines()) == len(whole["tenants"]) + 2


def test_cached_plans_are_reused_and_said_so(tmp_path: Path) -> None:
    args = ("plan", "acme", "globex", "--json", "--stacks-dir", str(EXAMPLES), "--workers", "1")
    cold = tenantctl(*args, data=tmp_path)
    warm = tenantctl(*args, data=tmp_path)
    assert "plan cache: 0 of 2 tenant(s) reused, 2 planned" in cold.stderr
    assert "plan cache: 2 of 2 tenant(s) reused, 0 planned" in warm.stderr
    assert json.loads(warm.stdout) == json.loads(cold.stdout)  # the same plans, read back

    uncached = tenantctl(*args, "--no-cache", data=tmp_path / "other")
    assert uncached.exit_code == 0
    assert normalised(json.loads(uncached.stdout)) == normalised(json.loads(cold.stdout))
    assert "plan cache" not in uncached.stderr
    assert not (tmp_path / "other" / "plan-cache").exists()


def test_check_reuses_reports_and_fills_plans(tmp_path: Path) -> None:
    args = ("check", "--all", "--stacks-dir", str(BROKEN), "-f", "json", "--workers", "1")
    cold = tenantctl(*args, data=tmp_path)
    warm = tenantctl(*args, data=tmp_path)
    assert cold.exit_code == warm.exit_code == 1
    assert "plan cache: 0 of 5 tenant(s) reused" in cold.stderr
    # Stacks that do not plan are checked again each time; the others are reused.
    assert "plan cache: 3 of 5 tenant(s) reused, 2 planned" in warm.stderr

    def findings(result: Result) -> dict[str, list[object]]:
        return {t["tenant"]: t["findings"] for t in json.loads(result.stdout)["tenants"]}

    assert findings(warm) == findings(cold)
    plan = tenantctl("plan", "steady", "--stacks-dir", str(BROKEN), data=tmp_path)
    assert "plan cache: 1 of 1 tenant(s) reused" in plan.stderr


def test_check_reads_what_plan_json_writes(tmp_path: Path) -> None:
    fleet = tmp_path / "plan.json"
    written = tenantctl(
        "plan", "--all", "--json", "--stacks-dir", str(BROKEN), "--workers", "1", data=tmp_path
    )
    assert written.exit_code == 1  # two stacks do not plan: listed under "errors"
    fleet.write_text(written.stdout)
    one = tmp_path / "openssh.json"
    one.write_text(
        tenantctl("plan", "openssh", "--json", "--stacks-dir", str(BROKEN), data=tmp_path).stdout
    )
    result = tenantctl(
        "check", "--plan-file", str(fleet), "--plan-file", str(one), "-f", "json", data=tmp_path
    )
    assert result.exit_code == 1, result.stderr
    tenants = json.loads(result.stdout)["tenants"]
    by_tenant = {(t["tenant"], t["stackFile"]): t for t in tenants}
    assert len(tenants) == 6
    openssh = {f["policy"] for f in by_tenant[("openssh", str(one))]["findings"]}
    assert "aws-vpc-security-group-disallow-public-ingress" in openssh
    assert by_tenant[("steady", str(fleet))]["passed"] is True
    assert {f["policy"] for f in by_tenant[("badspec", str(fleet))]["findings"]} == {
        "tenant-stack-configure-valid-spec"
    }

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"tenants": [{"tenant": "x"}]}')
    refused = tenantctl("check", "--plan-file", str(garbage), data=tmp_path)
    assert refused.exit_code == 2
    assert f"cannot read plan file {garbage}" in refused.stderr


@pytest.mark.parametrize("command", ["plan", "check"])
def test_no_stacks_found_is_an_error(command: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = tenantctl(command, "--all", "--stacks-dir", str(empty), data=tmp_path)
    assert result.exit_code == 2
    assert f"no stack files (Pulumi.<tenant>.yaml) in {empty}" in result.stderr
    from_env = tenantctl(command, "--all", data=tmp_path, TENANTS_STACKS_DIR=str(empty))
    assert from_env.exit_code == 2
    assert str(empty) in from_env.stderr


@pytest.mark.parametrize("command", ["plan", "check"])
def test_stacks_dir_comes_from_the_environment(command: str, tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    shutil.copy(BROKEN / "Pulumi.steady.yaml", stacks)
    result = tenantctl(command, "--all", data=tmp_path, TENANTS_STACKS_DIR=str(stacks))
    assert result.exit_code == 0, result.stderr
    assert "steady" in result.stdout
    assert "acme" not in result.stdout


def _copy_project(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("components", "planner", "policies", "control_plane"):
        shutil.copytree(ROOT / package, target / package, ignore=ignore)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(EXAMPLES, target / "stacks", ignore=shutil.ignore_patterns("Pulumi.[!a]*"))
    return target


def test_no_plan_is_served_across_a_code_change(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "project")
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(project / "stacks"),
    }

    def check() -> str:
        completed = subprocess.run(
            [sys.executable, "-c", "from control_plane.cli import main; main()", "check", "--all"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stderr

    assert "0 of 1 tenant(s) reused" in check()
    assert "1 of 1 tenant(s) reused" in check()
    for changed in ("components/bundle.py", "policies/rules/s3.py", "__main__.py"):
        with (project / changed).open("a") as source:
            source.write("# changed\n")
        assert "0 of 1 tenant(s) reused, 1 planned" in check(), changed


def test_a_plan_trimmed_before_it_is_read_is_planned_again(tmp_path: Path) -> None:
    store = PlanCache(tmp_path / "cache").open()
    with plan_fleet(BROKEN, ["badspec", "steady"], cache=store, workers=1) as plans:
        shutil.rmtree(store.root)  # another run trimmed everything meanwhile
        results = list(plans)
    assert plans.reused == 0
    badspec, steady = results  # in the order asked for
    assert isinstance(steady, TenantPlan) and steady.tenant == "steady"
    assert isinstance(badspec, PlanFailure) and "invalid tenant spec" in badspec.error
