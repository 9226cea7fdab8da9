"""Requests the tenant service refuses before anything is written: a move to another region
or residency, and a stack file named by a tenant id that is a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from control_plane.cli import app
from control_plane.registry.database import Database
from control_plane.service import InvalidSpecError, SpecChangeError, TenantService
from planner.stacks import StackFiles, UnknownTenantError
from tests.control_plane.control_plane_helpers import spec_data

ACTOR = "test"
MOVE = "Moving a tenant means creating a new tenant in the target region, migrating its data"


@pytest.mark.parametrize(
    "changes",
    [
        {"region": "eu-west-2"},
        {"region": "us-east-1", "residency": "us"},
        {"residency": "us"},
        {"plan": "pro", "region": "eu-central-1"},
    ],
)
def test_region_and_residency_cannot_change_in_place(
    service: TenantService, stacks: StackFiles, changes: dict[str, Any]
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    stack_file = stacks.path("acme").read_text()

    with pytest.raises(SpecChangeError, match="cannot be updated") as refused:
        service.update("acme", changes, actor=ACTOR)

    assert MOVE in str(refused.value)
    view = service.show("acme")
    assert (view.spec_version, view.spec["region"], view.spec["residency"]) == (
        1,
        "eu-west-1",
        "eu",
    )
    assert stacks.path("acme").read_text() == stack_file
    assert [o.action for o in service.history("acme")] == ["create"]


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        ({"network": {"cidr": "10.99.0.0/16"}}, "network.cidr cannot be updated (from "),
        ({"region": "eu-central-1"}, "region cannot be updated (from 'eu-west-1' to "),
    ],
)
def test_an_update_and_a_synced_stack_file_refuse_the_same_fields(
    service: TenantService, stacks: StackFiles, edit: dict[str, Any], refusal: str
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    current = stacks.read_spec("acme")

    with pytest.raises(SpecChangeError) as by_request:
        service.update("acme", edit, actor=ACTOR)
    edited = current.model_dump(mode="json") | edit
    if "network" in edit:
        edited["network"] = current.network.model_dump(mode="json") | edit["network"]
    stacks.write_spec(current.model_validate(edited))
    with pytest.raises(SpecChangeError) as by_file:
        service.sync_from_stack("acme", actor=ACTOR)

    assert str(by_request.value).startswith(refusal)
    assert str(by_request.value).endswith(str(by_file.value).split("): ", 1)[1])
    assert "in the stack file): " in str(by_file.value)
    assert service.show("acme").spec_version == 1


def test_an_update_may_repeat_the_region_and_residency(service: TenantService) -> None:
    service.create(spec_data("acme"), actor=ACTOR)

    accepted = service.update(
        "acme", {"region": "eu-west-1", "residency": "eu", "compute": {"max_size": 2}}, actor=ACTOR
    )

    assert accepted.spec_version == 2


def test_the_cli_explains_why_a_region_cannot_change(tmp_path: Path) -> None:
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "COLUMNS": "400",
    }
    runner = CliRunner()
    create = ["tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1"]
    assert runner.invoke(app, create, env=env).exit_code == 0

    result = runner.invoke(app, ["tenants", "update", "acme", "--set", "region=eu-west-2"], env=env)

    assert result.exit_code == 1
    assert (
        "region cannot be updated (from 'eu-west-1' to 'eu-west-2' in the request)" in result.output
    )
    assert "Traceback" not in result.output


@pytest.fixture
def outside_file(tmp_path: Path, stacks: StackFiles) -> Path:
    """A stack-shaped file outside the stacks directory, holding a marker value."""
    stacks.root.mkdir(parents=True)
    (stacks.root / "Pulumi.x").mkdir()
    outside = tmp_path / "outside.yaml"
    spec = {**spec_data("private-marker"), "network": {"cidr": "10.99.0.0/20"}}
    outside.write_text(yaml.safe_dump({"config": {"tenants:spec": spec}}))
    return outside


@pytest.mark.parametrize("tenant_id", ["x/../../outside", "../outside", "/etc/passwd"])
def test_from_stack_never_reads_outside_the_stacks_directory(
    service: TenantService,
    database: Database,
    outside_file: Path,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[Path] = []
    original = Path.read_text

    def spy(path: Path, *args: Any, **kwargs: Any) -> str:
        read.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", spy)

    with pytest.raises(InvalidSpecError, match=f"tenant id {tenant_id!r} is not valid") as refused:
        service.register_stack(tenant_id, actor=ACTOR)

    assert "private-marker" not in str(refused.value)
    assert read == []
    assert service.tenants() == []


@pytest.mark.parametrize("name", ["../outside", "x/../../outside", "..", "."])
def test_stack_files_never_build_a_path_out_of_the_directory(
    stacks: StackFiles, outside_file: Path, name: str
) -> None:
    with pytest.raises(UnknownTenantError, match="unknown tenant"):
        stacks.read_spec(name)


def test_the_cli_refuses_a_path_as_a_stack_name(tmp_path: Path, outside_file: Path) -> None:
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "COLUMNS": "400",
    }

    result = CliRunner().invoke(
        app, ["tenants", "create", "x/../../outside", "--from-stack"], env=env
    )

    assert result.exit_code == 1
    assert "tenant id 'x/../../outside' is not valid" in result.output
    assert "private-marker" not in result.output
