"""The bundle's resources by component through the API, from the last run of the real
offline runner: marked as a plan, grouped by component, secrets masked; nothing before the
first run."""

from __future__ import annotations

from control_plane.queue.worker import Worker
from control_plane.runners.offline import OfflineRunner
from tests.control_plane.control_plane_helpers import allow_all
from tests.web.web_helpers import World, auth

API = "/api/v1"


def test_resources_by_component_from_the_last_plan(world: World) -> None:
    world.user("ada@example.com")
    token = world.token("ada@example.com")
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "ada-labs", "plan": "free", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text

    before = world.client.get(f"{API}/tenants/ada-labs/resources", headers=auth(token))
    assert before.status_code == 200, before.text
    assert before.json()["mode"] is None and before.json()["operation_id"] is None
    assert all(group["resources"] == [] for group in before.json()["groups"])

    settings = world.context.tenants.settings
    Worker(world.database, settings, OfflineRunner(settings.data_dir, allow_all)).drain()
    answer = world.client.get(f"{API}/tenants/ada-labs/resources", headers=auth(token))

    assert answer.status_code == 200, answer.text
    inventory = answer.json()
    assert (inventory["mode"], inventory["is_plan"]) == ("plan", True)
    assert inventory["spec_version"] == 1
    groups = {g["group"]: g["resources"] for g in inventory["groups"]}
    assert list(groups) == [
        "network",
        "storage",
        "identity",
        "compute",
        "alarms",
        "add-ons",
        "bundle",
    ]
    [vpc] = [r for r in groups["network"] if r["type"] == "aws:ec2/vpc:Vpc"]
    assert vpc["name"] == "ada-labs-network-vpc" and vpc["component"] == "network"
    assert (
        vpc["outputs"]["cidrBlock"]
        == world.context.tenants.show("ada-labs").spec["network"]["cidr"]
    )
    assert {r["type"] for r in groups["storage"]} >= {"aws:s3/bucket:Bucket", "aws:kms/key:Key"}
    assert any(r["type"].startswith("aws:autoscaling/") for r in groups["compute"])
    assert all(r["component"] == "alarms" for r in groups["alarms"]) and groups["alarms"]
    assert groups["add-ons"] == []
    [secret] = [r for r in groups["identity"] if r["type"].endswith("SecretVersion")]
    assert secret["outputs"]["secretString"] == "[secret]"
    assert all(len(str(v)) <= 256 for r in groups["identity"] for v in r["outputs"].values())
    operations = world.client.get(f"{API}/tenants/ada-labs/operations", headers=auth(token))
    up = next(op for op in operations.json()["items"] if op["mode"] == "plan")
    assert up["action"] == "provision"
    assert inventory["operation_id"] == up["id"]
    assert sum(len(g) for g in groups.values()) <= up["resource_count"]
