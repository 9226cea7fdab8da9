"""Every command, under every bad setting a newcomer types, answers with one line and a
non-zero exit, never a traceback; `--debug` shows the traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from control_plane.cli.boundary import describe
from tests.cli.conftest import Invoke

ROOT = Path(__file__).resolve().parents[2]

# One invocation of every command that reads the configuration (`demo` uses its own
# scratch settings; `sandbox` and `worker` without --drain serve until stopped).
COMMANDS = [
    ["tenants", "list"],
    ["tenants", "show", "acme"],
    ["tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1"],
    ["tenants", "update", "acme", "--plan", "pro"],
    ["tenants", "suspend", "acme"],
    ["tenants", "resume", "acme"],
    ["tenants", "delete", "acme"],
    ["up", "acme"],
    ["preview", "acme"],
    ["refresh", "acme"],
    ["history", "acme"],
    ["worker", "--drain"],
    ["status"],
    ["billing", "reconcile"],
    ["billing", "serve", "--port", "0"],
    ["billing", "send", "created", "--tenant", "acme", "--url", "http://127.0.0.1:9/hook"],
    ["invoices", "acme", "--preview", "2026-11"],
    ["plan", "ghost"],
    ["check", "ghost"],
]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _bad_settings(tmp_path: Path) -> dict[str, dict[str, str]]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return {
        "secrets-not-json": {"TENANTS_BILLING_WEBHOOK_SECRETS": '["whsec_a", '},
        "prices-not-json": {"TENANTS_BILLING_PRICE_PLANS": '{"price_1Pro": '},
        "prices-not-pairs": {"TENANTS_BILLING_PRICE_PLANS": "price_1Pro"},
        "database-unreachable": {
            "TENANTS_DATABASE_URL": f"postgresql+psycopg://u:pw@127.0.0.1:{_closed_port()}/x"
        },
        "database-url-malformed": {"TENANTS_DATABASE_URL": "not a url"},
        "database-driver-missing": {"TENANTS_DATABASE_URL": "mysql://u@127.0.0.1/x"},
        "data-dir-uncreatable": {"TENANTS_DATA_DIR": str(blocker / "data")},
        "runner-unknown": {"TENANTS_RUNNER": "cloud"},
    }


@pytest.mark.parametrize(
    "setting",
    [
        "secrets-not-json",
        "prices-not-json",
        "prices-not-pairs",
        "database-unreachable",
        "database-url-malformed",
        "database-driver-missing",
        "data-dir-uncreatable",
        "runner-unknown",
    ],
)
def test_no_command_shows_a_traceback_for_a_bad_setting(
    tenantctl: Invoke, tmp_path: Path, setting: str
) -> None:
    env = _bad_settings(tmp_path)[setting]
    failed = 0
    for command in COMMANDS:
        result = tenantctl(*command, env=env)
        shown = result.output
        assert "Traceback" not in shown, (command, shown)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            command,
            repr(result.exception),
        )
        if result.exit_code != 0:
            failed += 1
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert lines and lines[0].startswith("error:"), (command, shown)
    # Every command that needs the broken setting refused to run.
    assert failed >= 3


def test_bad_settings_are_named_with_what_to_write(tenantctl: Invoke, tmp_path: Path) -> None:
    bad = _bad_settings(tmp_path)
    secrets = tenantctl("billing", "reconcile", env=bad["secrets-not-json"])
    assert secrets.exit_code == 1  # the reconciler's pace is billing configuration too
    assert "TENANTS_BILLING_WEBHOOK_SECRETS" in secrets.stderr
    sent = tenantctl("billing", "send", "created", "--tenant", "acme", env=bad["secrets-not-json"])
    assert sent.exit_code == 1
    assert "TENANTS_BILLING_WEBHOOK_SECRETS" in sent.stderr
    assert "not valid JSON" in sent.stderr and '["whsec_new", "whsec_old"]' in sent.stderr

    unreachable = tenantctl("tenants", "list", env=bad["database-unreachable"])
    assert unreachable.exit_code == 1
    assert "registry database unavailable" in unreachable.stderr
    assert "u:***@127.0.0.1" in unreachable.stderr and "pw@" not in unreachable.stderr
    assert "check TENANTS_DATABASE_URL" in unreachable.stderr

    malformed = tenantctl("status", env=bad["database-url-malformed"])
    assert "'not a url' is not a database URL" in malformed.stderr

    data_dir = tenantctl("tenants", "list", env=bad["data-dir-uncreatable"])
    assert data_dir.exit_code == 1
    assert "cannot create the directory" in data_dir.stderr
    assert "check TENANTS_DATA_DIR" in data_dir.stderr


def _unplaced_example(tenant: str) -> str:
    """An example stack file without its cell: no cell is registered in these tests."""
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{tenant}.yaml").read_text())
    spec = document["config"]["tenants:spec"]
    for placement in ("cell", "isolation"):
        spec.pop(placement, None)
    return yaml.safe_dump(document, sort_keys=False)


def test_unwritable_output_paths_are_one_line(tenantctl: Invoke, tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.acme.yaml").write_text(_unplaced_example("acme"))
    result = tenantctl("check", "acme", "-o", "/nonexistent/x.sarif")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: cannot use /nonexistent/x.sarif: no such file or directory; check that the "
        "path (and its directory) exists and is writable, or choose another"
    )
    assert "Traceback" not in result.stderr
    assert tenantctl("tenants", "create", "acme", "--from-stack").exit_code == 0
    month = f"{datetime.now(UTC):%Y-%m}"
    html = tenantctl("invoices", "acme", "--preview", month, "--html", "/nonexistent/x.html")
    assert html.exit_code == 1
    assert (
        html.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot use /nonexistent/x.html: no such file or directory")
    )


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.acme.yaml").write_text(_unplaced_example("acme"))
    command = [sys.executable, "-m", "control_plane.cli"]
    args = ["check", "acme", "--stacks-dir", str(stacks), "-o", "/nonexistent/x.sarif"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    quiet = subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    assert quiet.stderr.splitlines()[-1].startswith("error: cannot use /nonexistent/x.sarif")
    loud = subprocess.run(
        [*command, "--debug", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert "FileNotFoundError" in loud.stderr


def test_describe_names_the_problem_and_the_way_out() -> None:
    assert describe(PermissionError(13, "Permission denied", "/srv/x.html")) == (
        "cannot use /srv/x.html: permission denied; check that the path (and its directory) "
        "exists and is writable, or choose another"
    )
    assert describe(RuntimeError("boom\nsecond line")) == (
        "unexpected RuntimeError: boom; run again with `tenantctl --debug ...` to see the traceback"
    )
