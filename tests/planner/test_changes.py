"""`--changed-since`: which stacks a change touches, read from a git repository made here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from control_plane.cli import app
from planner.changes import ChangesError, changed_since

EXAMPLES = Path(__file__).resolve().parents[2] / "stacks"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the example stacks and a component, one commit on `main`."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root / "stacks")
    (root / "components").mkdir()
    (root / "components" / "network.py").write_text("VPC = 1\n")
    (root / "README.md").write_text("fleet\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "gate@example.com")
    git(root, "config", "user.name", "Gate")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "fleet")
    return root


def edit(path: Path) -> None:
    path.write_text(path.read_text().replace("eu-west-1", "eu-west-2", 1) + "\n")


def test_nothing_changed(repo: Path) -> None:
    changes = changed_since("main", repo / "stacks", project_root=repo)
    assert changes.stacks == () and changes.code == ()
    assert changes.summary(0) == "no stack changed since main"


def test_committed_uncommitted_and_untracked_stack_files_count(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / "stacks" / "Pulumi.acme.yaml")
    git(repo, "commit", "-qam", "acme moves")
    edit(repo / "stacks" / "Pulumi.globex.yaml")  # not committed
    shutil.copy(repo / "stacks" / "Pulumi.initech.yaml", repo / "stacks" / "Pulumi.newco.yaml")
    (repo / "README.md").write_text("docs only\n")
    changes = changed_since("main", repo / "stacks", project_root=repo)
    assert changes.stacks == ("acme", "globex", "newco")
    assert changes.code == ()


def test_a_deleted_stack_is_not_selected(repo: Path) -> None:
    git(repo, "rm", "-q", "stacks/Pulumi.umbrella.yaml")
    assert changed_since("HEAD", repo / "stacks", project_root=repo).stacks == ()


def test_a_code_change_touches_every_stack(repo: Path) -> None:
    (repo / "components" / "network.py").write_text("VPC = 2\n")
    changes = changed_since("HEAD", repo / "stacks", project_root=repo)
    assert changes.code == ("components/network.py",)
    assert "checking all 4 stack(s)" in changes.summary(4)


def test_changes_since_the_merge_base_not_since_the_tip_of_ref(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / "stacks" / "Pulumi.acme.yaml")
    git(repo, "commit", "-qam", "acme moves")
    git(repo, "checkout", "-q", "main")
    edit(repo / "stacks" / "Pulumi.umbrella.yaml")
    git(repo, "commit", "-qam", "umbrella moves on main")
    git(repo, "checkout", "-q", "feature")
    assert changed_since("main", repo / "stacks", project_root=repo).stacks == ("acme",)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no-such-branch", "not a revision of the repository"),
        ("--output=/tmp/x", "not starting with '-'"),
        ("", "expected a git revision"),
    ],
)
def test_bad_revisions(repo: Path, ref: str, message: str) -> None:
    with pytest.raises(ChangesError, match=message):
        changed_since(ref, repo / "stacks", project_root=repo)


def test_outside_a_repository(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "stacks")
    with pytest.raises(ChangesError, match="inside a git repository"):
        changed_since("HEAD", tmp_path / "stacks")


def test_check_changed_since_checks_changed_stacks_and_keeps_fleet_checks(
    repo: Path, tmp_path: Path
) -> None:
    stacks = repo / "stacks"
    # acme moves onto umbrella's network: umbrella is unchanged, but the fleet check sees it.
    acme = stacks / "Pulumi.acme.yaml"
    acme.write_text(acme.read_text().replace("10.64.0.0/20", "10.64.48.0/20", 1))
    env = {"TENANTS_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(
        app,
        ["check", "--changed-since", "HEAD", "--stacks-dir", str(stacks), "-f", "json"],
        env=env,
    )
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert [t["tenant"] for t in report["tenants"]] == ["acme"]
    policies = {f["policy"] for f in report["tenants"][0]["findings"]}
    assert policies == {
        "fleet-network-disallow-overlapping-cidrs",
        "aws-secretsmanager-secret-missing-rotation",  # advisory, on every bundle
    }
    assert "1 stack(s) changed since HEAD: acme" in result.stderr

    git(repo, "commit", "-qam", "acme moves")
    nothing = CliRunner().invoke(
        app, ["check", "--changed-since", "HEAD", "--stacks-dir", str(stacks)], env=env
    )
    assert nothing.exit_code == 0
    assert "no stack changed since HEAD" in nothing.stderr
    assert "0 tenant(s) checked" in nothing.stdout
    bad = CliRunner().invoke(
        app, ["check", "--changed-since", "nope", "--stacks-dir", str(stacks)], env=env
    )
    assert bad.exit_code == 2
    assert "'nope': not a revision of the repository" in bad.stderr
    assert "Traceback" not in bad.stderr
