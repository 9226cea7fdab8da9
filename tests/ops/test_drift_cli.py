"""`tenantctl drift` and `tenantctl check` against the registry, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from control_plane.cli import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_DATABASE_URL": "",
        "TENANTS_DRIFT_INTERVAL": "PT6H",
        "COLUMNS": "200",
    }


@pytest.fixture
def cli(env: dict[str, str]) -> Any:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, **extra: str) -> Result:
        result = runner.invoke(app, list(args), env={**env, **extra})
        assert result.exit_code == code, result.output
        return result

    return invoke


def _edit_by_hand(stacks: Path, tenant: str) -> None:
    path = stacks / f"Pulumi.{tenant}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["tenants:spec"]["compute"] = {"max_size": 3}
    path.write_text(yaml.safe_dump(document))


def test_drift_lists_checks_and_repairs(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    cli("worker", "--drain")
    assert "acme (active): no drift; no drift check since the last `up`" in cli("drift").stdout

    queued = cli("drift", "--check", "acme").stdout
    assert "drift check" in queued and "job 2 queued" in queued
    cli("worker", "--drain")
    [item] = json.loads(cli("drift", "acme", "--json").stdout)
    assert item["tenant_id"] == "acme" and item["drifted"] is False
    assert item["mode"] == "plan" and item["checked_at"] and item["resources"] == []

    _edit_by_hand(tmp_path / "stacks", "acme")
    listed = cli("drift").stdout
    assert "acme (active): drifted" in listed
    assert "spec: stack file differs from the registry (edited by hand, not synced)" in listed
    assert "compute.max_size" in listed

    repair = cli("drift", "--repair", "acme", "--json").stdout
    assert json.loads(repair)["action"] == "up"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("drift", "nope"), 2, "unknown tenant 'nope'; known tenants: acme"),
        (("drift", "--check", "nope"), 2, "unknown tenant 'nope'"),
        (("drift", "--repair"), 2, "--check and --repair need a TENANT"),
        (("drift", "--check", "--repair", "acme"), 2, "pass --check or --repair, not both"),
        (("drift", "--check", "acme"), 1, "cannot refresh tenant 'acme' in state 'pending'"),
    ],
)
def test_bad_drift_requests_are_one_line(
    cli: Any, args: tuple[str, ...], code: int, message: str
) -> None:
    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    result = cli(*args, code=code)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ("soon", "TENANTS_DRIFT_INTERVAL: Value error, 'soon' is not a duration; use ISO 8601"),
        ("PT10S", "TENANTS_DRIFT_INTERVAL: Value error, drift interval 0:00:10 is outside 1 min"),
        ("P90D", "is outside 1 minute to 30 days"),
    ],
)
def test_a_bad_drift_interval_is_one_line(cli: Any, interval: str, message: str) -> None:
    result = cli("drift", code=1, TENANTS_DRIFT_INTERVAL=interval)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_check_reports_an_unsynced_stack_file_until_it_is_synced(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    assert "fleet-stack-disallow-unsynced-edit" not in cli("check", "acme").stdout

    _edit_by_hand(tmp_path / "stacks", "acme")
    found = cli("check", "acme", "--format", "json", code=1).stdout
    [tenant] = json.loads(found)["tenants"]
    [finding] = [
        f for f in tenant["findings"] if f["policy"] == "fleet-stack-disallow-unsynced-edit"
    ]
    assert finding["enforcement"] == "mandatory"
    assert "differs from the registry's desired spec v1 in compute.max_size" in finding["message"]
    assert "`tenantctl sync acme`" in finding["message"]
    sarif = cli("check", "acme", "--format", "sarif", code=1).stdout
    assert "fleet-stack-disallow-unsynced-edit" in sarif

    cli("sync", "acme", "--actor", "alice")
    assert "fleet-stack-disallow-unsynced-edit" not in cli("check", "acme").stdout


def test_check_without_a_registry_compares_nothing_and_creates_none(
    cli: Any, tmp_path: Path
) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    source = Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.initech.yaml"
    (stacks / "Pulumi.initech.yaml").write_text(source.read_text())

    cli("check", "initech")

    assert not (tmp_path / "data" / "tenants.db").exists()
