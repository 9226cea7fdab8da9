"""`tenantctl sync`: an edited stack file, committed in git, becomes a spec change by its
author; what is fixed for a tenant's life is refused while the other files still sync."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from control_plane.cli import app


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "repo" / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_DATABASE_URL": "",
        "COLUMNS": "200",
    }

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    return invoke


def _git(repo: Path, *args: str, author: str = "Jane Doe <jane@example.com>") -> None:
    name, email = author.rstrip(">").split(" <")
    subprocess.run(
        ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _edit(path: Path, **spec_changes: Any) -> None:
    document = yaml.safe_load(path.read_text())
    document["config"]["tenants:spec"].update(spec_changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_merged_edit_is_synced_with_its_author_as_actor(cli: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for tenant in ("acme", "globex"):
        cli("tenants", "create", tenant, "--plan", "starter", "--region", "eu-west-1")
    cli("worker", "--drain")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "fleet", author="Ops Bot <ops@example.com>")

    _edit(repo / "stacks" / "Pulumi.acme.yaml", compute={"max_size": 3})
    _edit(repo / "stacks" / "Pulumi.globex.yaml", region="eu-central-1")
    (repo / "stacks" / "Pulumi.initech.yaml").write_text(
        (repo / "stacks" / "Pulumi.acme.yaml").read_text().replace("acme", "initech")
    )
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "scale acme")

    result = cli("sync", "--json", code=1)

    outcomes = {r["tenant_id"]: r for r in json.loads(result.stdout)}
    assert outcomes["acme"]["outcome"] == "synced"
    assert outcomes["acme"]["actor"] == "Jane Doe <jane@example.com>"
    assert "compute" in outcomes["acme"]["detail"]
    assert outcomes["globex"]["outcome"] == "refused"
    assert (
        "region cannot be updated (from 'eu-west-1' to 'eu-central-1' in the stack file)"
        in outcomes["globex"]["detail"]
    )
    assert outcomes["initech"]["outcome"] == "not registered"

    history = json.loads(cli("history", "acme", "--json").stdout)
    assert history[0]["actor"] == "Jane Doe <jane@example.com>"
    assert history[0]["message"].startswith("sync from stack file")
    shown = json.loads(cli("tenants", "show", "acme", "--json").stdout)
    assert shown["tenant"]["spec"]["compute"]["max_size"] == 3

    again = json.loads(cli("sync", "acme", "--json").stdout)
    assert again[0]["outcome"] == "in sync"


def test_an_invalid_edit_is_refused_and_changes_nothing(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    path = tmp_path / "repo" / "stacks" / "Pulumi.acme.yaml"
    _edit(path, compute={"max_size": 40})

    result = cli("sync", "acme", "--actor", "ci", code=1)

    assert "refused" in result.stdout and "max_size" in result.stdout
    shown = json.loads(cli("tenants", "show", "acme", "--json").stdout)
    assert shown["tenant"]["spec_version"] == 1


def test_suspension_is_not_a_stack_file_edit(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    _edit(tmp_path / "repo" / "stacks" / "Pulumi.acme.yaml", suspended=True)
    result = cli("sync", "acme", code=1)
    assert "tenants suspend" in result.stdout
