"""`tenantctl` end to end with the real offline runner: create, provision (plan), scale,
suspend, resume and retire a tenant, with its state and history shown."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from control_plane.cli import ops, tenants
from control_plane.queue.worker import Worker
from control_plane.registry.database import open_database
from control_plane.runners.factory import make_runner
from tests.control_plane.control_plane_helpers import make_settings


@pytest.fixture
def tenantctl(tmp_path: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """tenantctl"""

    tenants.register(app)
    ops.register(app)
    return app


@pytest.fixture
def cli(tenantctl: typer.Typer, tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_POLL_INTERVAL_SECONDS": "0.05",
        "COLUMNS": "200",
    }

    def invoke(*args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = runner.invoke(tenantctl, list(args), env=env, input=stdin)
        assert result.exit_code == code, result.output
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_tenant_lifecycle_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    created = cli(
        "tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1",
        "--contact", "ops@acme.example", "--actor", "alice", "--json",
    )  # fmt: skip
    document = as_json(created)
    assert document["tenant"]["display_state"] == "pending"
    assert document["tenant"]["cidr"] == "10.64.0.0/22"
    stack_file = yaml.safe_load((tmp_path / "stacks" / "Pulumi.acme.yaml").read_text())
    assert stack_file["config"]["tenants:spec"]["network"]["cidr"] == "10.64.0.0/22"

    drained = cli("worker", "--drain")
    assert "provision acme (job 1, attempt 1): succeeded" in drained.stdout
    shown = cli("tenants", "show", "acme")
    assert "active (plan)" in shown.stdout
    assert "nothing of this tenant is deployed" in shown.stdout
    assert "planned outputs (plan: nothing deployed)" in shown.stdout
    view = as_json(cli("tenants", "show", "acme", "--json"))["tenant"]
    assert (view["state"], view["last_run_mode"]) == ("active", "plan")
    assert view["outputs"]["tenant"] == "acme"

    cli("tenants", "update", "acme", "--plan", "pro", "--actor", "billing")
    cli("tenants", "update", "acme", "--set", "compute.max_size=8")
    assert "update acme (job 3, attempt 1): succeeded" in cli("worker", "--once").stdout
    view = as_json(cli("tenants", "show", "acme", "--json"))["tenant"]
    assert (view["plan"], view["display_state"]) == ("pro", "active (plan)")
    assert view["spec"]["compute"] == {"max_size": 8}

    cli("tenants", "suspend", "acme", "--reason", "payment failed")
    cli("worker", "--drain")
    assert as_json(cli("tenants", "show", "acme", "--json"))["tenant"]["display_state"] == (
        "suspended (plan)"
    )
    cli("tenants", "resume", "acme")
    cli("worker", "--drain")

    cli("tenants", "delete", "acme")
    cli("worker", "--drain")
    view = as_json(cli("tenants", "show", "acme", "--json"))["tenant"]
    assert view["display_state"] == "retired (plan)"
    assert view["retained"], "a retiring destroy lists the data stores it kept"
    assert not (tmp_path / "stacks" / "Pulumi.acme.yaml").exists()

    history = as_json(cli("history", "acme", "--json"))
    runs = [(o["action"], o["mode"], o["status"]) for o in reversed(history) if o["mode"]]
    assert runs == [
        ("provision", "plan", "succeeded"),
        ("update", "plan", "succeeded"),
        ("suspend", "plan", "succeeded"),
        ("resume", "plan", "succeeded"),
        ("deprovision", "plan", "succeeded"),
    ]
    requests = [(o["action"], o["actor"]) for o in reversed(history) if not o["mode"]]
    assert requests[:2] == [("create", "alice"), ("update", "billing")]
    # Narrow terminals wrap the cell; every run row is still labelled a plan.
    table = " ".join(cli("history", "acme").stdout.split())
    assert table.count("plan (nothing") + table.count("plan │") >= 5

    status = as_json(cli("status", "--json"))
    assert status["tenants_by_state"] == {"retired": 1}
    assert status["tenants_in_plan_mode"] == 1


def test_preview_waits_for_a_worker_and_is_marked_as_a_plan(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "acme", "--plan", "free", "--region", "us-east-1")
    settings = make_settings(tmp_path, runner="offline")
    database = open_database(settings.registry_url)

    def worker_arrives_later() -> None:
        time.sleep(0.5)
        Worker(database, settings, make_runner(settings)).drain()

    worker = threading.Thread(target=worker_arrives_later)
    worker.start()
    waited = cli("preview", "acme", "--wait")
    worker.join()
    database.dispose()

    assert "preview succeeded · plan (nothing deployed)" in waited.stdout
    history = as_json(cli("history", "acme", "--json", "--events"))
    preview = history[0]
    assert (preview["action"], preview["mode"]) == ("preview", "plan")
    assert preview["status"] == "succeeded"
    assert preview["events"], "engine events are streamed into the operation log"
    assert all(line.startswith("plan:") for line in preview["events"])
    # The provision ran first: one stack operation per tenant, in request order.
    assert [o["action"] for o in reversed(history) if o["mode"]] == ["provision", "preview"]


def test_bad_requests_are_clear_errors(cli: Any) -> None:
    bad = cli(
        "tenants", "create", "acme", "--plan", "free", "--region", "us-east-1",
        "--set", "compute.max_size=3", "--set", "storage.quota_gb=50", code=1,
    )  # fmt: skip
    assert "compute.max_size: max_size 3 exceeds plan 'free' limit of 1" in bad.stderr
    assert "storage.quota_gb: quota_gb 50 exceeds plan 'free' limit of 5" in bad.stderr
    assert (
        "region 'mars-1' is not supported"
        in cli("tenants", "create", "acme", "--plan", "free", "--region", "mars-1", code=1).stderr
    )
    assert (
        "unknown tenant 'ghost'; known tenants: none"
        in cli("tenants", "suspend", "ghost", code=2).stderr
    )
    cli("tenants", "create", "acme", "--plan", "free", "--region", "us-east-1")
    assert (
        "cannot resume tenant 'acme' in state 'pending'"
        in cli("tenants", "resume", "acme", code=1).stderr
    )
    assert "not dotted.path=value" in cli("tenants", "update", "acme", "--set", "x", code=1).stderr
    assert "nothing to change" in cli("tenants", "update", "acme", code=2).stderr
    # A purge needs the tenant id typed back; a wrong answer changes nothing.
    refused = cli("tenants", "delete", "acme", "--purge", stdin="acm\n", code=1)
    assert "confirm with the tenant id" in refused.stderr
    assert as_json(cli("tenants", "show", "acme", "--json"))["tenant"]["state"] == "pending"
    purged = as_json(cli("tenants", "delete", "acme", "--purge", "--confirm", "acme", "--json"))
    assert "data stores purged" in purged["message"]


def test_invalid_configuration_is_reported_by_variable(
    tenantctl: typer.Typer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        tenantctl,
        ["tenants", "list"],
        env={"TENANTS_CIDR_POOL": "8.8.0.0/16", "TENANTS_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "TENANTS_CIDR_POOL" in result.stderr
    assert "not in a private range" in result.stderr


def test_registering_a_stack_file_takes_the_spec_from_the_file(cli: Any, tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    spec = {
        "tenant_id": "hooli",
        "plan": "free",
        "region": "us-east-1",
        "residency": "us",
        "network": {"cidr": "10.200.0.0/16"},
    }
    (stacks / "Pulumi.hooli.yaml").write_text(yaml.safe_dump({"config": {"tenants:spec": spec}}))
    refused = cli("tenants", "create", "hooli", "--from-stack", "--plan", "pro", code=2)
    assert "--from-stack takes the whole spec from the stack file" in refused.stderr
    registered = as_json(cli("tenants", "create", "hooli", "--from-stack", "--json"))
    assert registered["tenant"]["cidr"] == "10.200.0.0/16"
    assert registered["request"]["message"].startswith("registered from")


def test_add_ons_are_chosen_and_scaled_with_set(cli: Any, tmp_path: Path) -> None:
    cli("tenants", "create", "ringo", "--plan", "pro", "--region", "eu-central-1")
    cli(
        "tenants", "update", "ringo",
        "--set", 'addons.telephony={country: DE, forward_to: "+4930123456", voicemail: true}',
        "--set", "addons.endpoint={}",
    )  # fmt: skip
    cli("tenants", "update", "ringo", "--set", "addons.telephony.lines=2")
    stack_file = yaml.safe_load((tmp_path / "stacks" / "Pulumi.ringo.yaml").read_text())
    addons = stack_file["config"]["tenants:spec"]["addons"]
    assert addons["telephony"]["lines"] == 2 and addons["endpoint"] == {}
    assert "ringo (job 3, attempt 1): succeeded" in cli("worker", "--drain").stdout
    outputs = as_json(cli("tenants", "show", "ringo", "--json"))["tenant"]["outputs"]
    assert len(outputs["phone_numbers"]) == 2
    assert outputs["endpoint_url"] == "https://ringo.tenants-platform.net"

    refused = cli("tenants", "update", "ringo", "--set", "addons.telephony.lines=11", code=1)
    assert "addons.telephony.lines: 11 lines exceed plan 'pro' limit of 10" in refused.output
    assert "Traceback" not in refused.output
    kept = yaml.safe_load((tmp_path / "stacks" / "Pulumi.ringo.yaml").read_text())
    assert kept["config"]["tenants:spec"]["addons"]["telephony"]["lines"] == 2
