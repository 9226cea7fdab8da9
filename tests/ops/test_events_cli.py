"""`tenantctl events`: endpoints added (secret shown once), events listed, delivered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from control_plane.cli import app


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_DATABASE_URL": "",
        "TENANTS_EVENTS_BUS": "",
        "COLUMNS": "200",
    }

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_events_from_the_command_line(cli: Any) -> None:
    added = json.loads(
        cli("events", "endpoints", "add", "http://127.0.0.1:9/hook", "--json").stdout
    )
    assert added["secret"].startswith("whsec_")
    listed = cli("events", "endpoints", "list").stdout
    assert "http://127.0.0.1:9/hook" in listed and added["secret"] not in listed

    cli("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    cli("worker", "--drain")
    delivered = cli("events", "dispatch", "--drain").stdout
    assert "retrying 2" in delivered and "Connection refused" in delivered

    events = json.loads(cli("events", "list", "acme", "--json").stdout)
    assert [e["type"] for e in events] == ["tenant.provisioned", "tenant.created"]
    assert events[0]["deliveries"]["endpoint:1"].startswith("pending (1 attempt: ConnectError")

    cli("events", "endpoints", "remove", str(added["id"]))
    assert "no event endpoints" in cli("events", "endpoints", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("events", "endpoints", "add", "http://example.com/x"), "must use https"),
        (("events", "endpoints", "add", "https://x.example/", "--tenant", "no"), "unknown tenant"),
        (("events", "endpoints", "remove", "7"), "no event endpoint 7"),
        (("events", "list", "nope"), "unknown tenant 'nope'"),
    ],
)
def test_bad_requests_are_one_line_errors(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli(*args, code=1)
    assert message in result.output
    assert "Traceback" not in result.output
