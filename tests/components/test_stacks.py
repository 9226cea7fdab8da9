"""Stack files and `tenantctl plan`: examples plan cleanly, bad files fail precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import components.bundle
from components.stack_config import InvalidStackError
from control_plane.cli import app
from planner.program import plan_config, plan_stack_file
from planner.stacks import StackFiles

EXAMPLES = StackFiles()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _scratch_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan` keeps its cache in the data directory: a scratch one, and the example stacks."""
    monkeypatch.setenv("TENANTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TENANTS_STACKS_DIR", raising=False)


def test_examples_cover_every_plan_two_regions_and_an_eu_tenant() -> None:
    specs = [EXAMPLES.read_spec(t) for t in EXAMPLES.tenants()]
    assert len(specs) >= 4
    assert {s.plan.value for s in specs} == {"free", "starter", "pro", "enterprise"}
    assert len({s.region for s in specs}) >= 2
    assert any(s.residency.value == "eu" for s in specs)


@pytest.mark.parametrize("tenant", EXAMPLES.tenants())
def test_every_example_stack_plans_offline_without_warnings(tenant: str) -> None:
    plan = plan_stack_file(EXAMPLES.path(tenant))
    assert plan.tenant == tenant
    assert plan.resources
    assert plan.warnings == []


def _write(tmp_path: Path, tenant: str, spec: object) -> Path:
    path = tmp_path / f"Pulumi.{tenant}.yaml"
    path.write_text(json.dumps({"config": {"tenants:spec": spec}}))  # JSON is valid YAML
    return path


BAD_SPEC = {
    "tenant_id": "broken",
    "plan": "starter",
    "region": "us-east-1",
    "residency": "eu",
    "network": {"cidr": "10.1.0.0/33"},
    "compute": {"max_size": 9, "instance_type": "m6i.large"},
    "surprise": True,
}


def test_invalid_stack_fails_before_any_resource_with_every_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_bundle(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a resource was registered for an invalid spec")

    monkeypatch.setattr(components.bundle, "ServiceBundle", no_bundle)
    with pytest.raises(InvalidStackError) as caught:
        plan_config("broken", {"tenants:spec": json.dumps(BAD_SPEC)})
    message = str(caught.value)
    for path in ("network.cidr", "surprise", "region", "compute.max_size", "compute.instance_type"):
        assert f"  {path}: " in message, message


def test_cli_reports_an_invalid_stack_without_a_traceback(tmp_path: Path) -> None:
    _write(tmp_path, "broken", BAD_SPEC)
    result = runner.invoke(app, ["plan", "broken", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "network.cidr" in output and "compute.max_size" in output


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("config: [unclosed", "not valid YAML"),
        ("other: 1\n", "no `config:` mapping"),
        ("config:\n  aws:region: eu-west-1\n", "missing config key `tenants:spec`"),
    ],
)
def test_malformed_stack_files_get_a_clear_error(
    tmp_path: Path, document: str, problem: str
) -> None:
    (tmp_path / "Pulumi.odd.yaml").write_text(document)
    result = runner.invoke(app, ["plan", "odd", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert problem in result.stderr


def test_stack_name_must_match_the_tenant_id(tmp_path: Path) -> None:
    spec = {**EXAMPLES.read_config("umbrella")["tenants:spec"]}
    _write(tmp_path, "someone-else", spec)
    result = runner.invoke(app, ["plan", "someone-else", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "must equal the stack name" in result.stderr


def test_unknown_tenant_lists_the_known_ones() -> None:
    result = runner.invoke(app, ["plan", "nobody"])
    assert result.exit_code == 2
    assert "unknown tenant 'nobody'" in result.stderr
    for tenant in EXAMPLES.tenants():
        assert tenant in result.stderr


def test_plan_all_json_has_the_documented_shape() -> None:
    result = runner.invoke(app, ["plan", "--all", "--json", "--workers", "1"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    tenants = {t["tenant"]: t for t in document["tenants"]}
    assert set(tenants) == set(EXAMPLES.tenants())
    acme = tenants["acme"]
    assert (acme["plan"], acme["region"]) == ("enterprise", "eu-west-1")
    first = acme["resources"][0]
    assert {"type", "name", "parent", "inputs", "urn", "outputs"} <= set(first)
    assert any(r["type"] == "aws:autoscaling/group:Group" for r in acme["resources"])


def test_plan_text_shows_the_tree_and_counts() -> None:
    result = runner.invoke(app, ["plan", "initech"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "offline plan: nothing was deployed" in result.stdout
    assert "aws:autoscaling/group:Group" in result.stdout
    assert "resources by type" in result.stdout


def test_plan_needs_tenants_or_all() -> None:
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2
    assert "--all" in result.stderr


def test_write_spec_round_trips_and_keeps_other_keys(tmp_path: Path) -> None:
    files = StackFiles(tmp_path)
    (tmp_path / "Pulumi.umbrella.yaml").write_text(
        "config:\n  aws:region: us-west-2\n  tenants:spec: {}\n"
    )
    spec = EXAMPLES.read_spec("umbrella")
    files.write_spec(spec)
    assert files.read_spec("umbrella") == spec
    assert files.read_config("umbrella")["aws:region"] == "us-west-2"
    assert files.tenants() == ["umbrella"]
