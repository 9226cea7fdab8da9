"""`tenantctl cells` end to end in one process: moto for AWS, a SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from control_plane.cli import app
from tests.cells.conftest import Seed, organization

ROLE = "arn:aws:iam::310000000001:role/tenants-cell"


@pytest.fixture
def tenantctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded: Seed) -> Any:
    monkeypatch.setenv("TENANTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TENANTS_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("TENANTS_RUNNER", "offline")

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))

    return invoke


def _add(tenantctl: Any, *extra: str) -> Any:
    return tenantctl(
        "cells", "add", "eu-pool-1", "--account-id", "310000000001", "--role-arn", ROLE,
        "--region", "eu-west-1", "--region", "eu-central-1", *extra,
    )  # fmt: skip


def test_add_list_show_and_drain(tenantctl: Any) -> None:
    added = _add(tenantctl, "--headroom", "20", "--external-id", "tenants-control-plane")
    assert added.exit_code == 0, added.output
    assert "cell eu-pool-1 added" in added.output
    created = tenantctl("tenants", "create", "acme2", "--plan", "starter", "--region", "eu-west-1")
    assert created.exit_code == 0, created.output

    listing = tenantctl("cells", "list", "--json")
    [cell] = json.loads(listing.stdout)
    assert (cell["name"], cell["kind"], cell["tenants"]) == ("eu-pool-1", "pool", ["acme2"])
    vpcs = {
        u["scope"]: (u["used"], u["limit"], u["value"]) for u in cell["use"] if u["quota"] == "vpcs"
    }
    assert vpcs == {"eu-west-1": (1, 4, 5.0), "eu-central-1": (0, 4, 5.0)}
    assert cell["external_id_set"] is True and "tenants-control-plane" not in listing.stdout

    table = tenantctl("cells", "list")
    assert "use against quotas" in table.stdout and "nat-gateways-per-az" in table.stdout
    shown = tenantctl("cells", "show", "eu-pool-1")
    assert "tenants: acme2" in shown.stdout

    drained = tenantctl("cells", "drain", "eu-pool-1")
    assert "cell eu-pool-1 drained" in drained.stdout
    refused = tenantctl("tenants", "create", "acme3", "--plan", "starter", "--region", "eu-west-1")
    assert refused.exit_code == 1
    assert "eu-pool-1: drained" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "add eu-pool-2 --account-id 123 --role-arn {role} --region eu-west-1",
            "account_id: String should match pattern",
        ),
        (
            "add eu-pool-2 --account-id 310000000002 --role-arn {role} --region eu-west-1",
            "is in account 310000000001, not the cell's account 310000000002",
        ),
        (
            "add eu-pool-2 --account-id 310000000001 --role-arn {role} --region mars-1",
            "unsupported region(s) mars-1",
        ),
        (
            "add silo-x --account-id 310000000001 --role-arn {role} --region eu-west-1",
            "names starting with 'silo-' are kept for silo accounts",
        ),
        ("show nowhere", "unknown cell 'nowhere'; known cells: none yet"),
        ("drain nowhere", "unknown cell 'nowhere'"),
        (
            "add eu-pool-2 --account-id 310000000001 --role-arn {role} --region eu-west-1 "
            "--headroom 95",
            "headroom 95% is outside 0-90%",
        ),
    ],
)
def test_bad_requests_get_one_clear_error_and_change_nothing(
    tenantctl: Any, command: str, message: str
) -> None:
    result = tenantctl("cells", *command.format(role=ROLE).split())

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert json.loads(tenantctl("cells", "list", "--json").stdout) == []


def test_an_account_is_one_cell_only(tenantctl: Any) -> None:
    assert _add(tenantctl).exit_code == 0
    again = tenantctl(
        "cells", "add", "eu-pool-2", "--account-id", "310000000001", "--role-arn", ROLE,
        "--region", "eu-west-1",
    )  # fmt: skip
    assert again.exit_code == 1
    assert "account 310000000001 is already cell 'eu-pool-1'" in again.output


def test_vend_creates_a_silo_account(tenantctl: Any) -> None:
    organization()

    vended = tenantctl(
        "cells", "vend", "acme", "--email", "aws+acme@example.com", "--region", "eu-west-1"
    )

    assert vended.exit_code == 0, vended.output
    assert "silo account" in vended.output and "cell silo-acme (silo)" in vended.output
    created = tenantctl(
        "tenants", "create", "acme", "--plan", "enterprise", "--region", "eu-west-1",
        "--set", "isolation=silo",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "in cell silo-acme" in created.output
