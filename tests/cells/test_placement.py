"""Placement against moto with seeded quotas: fill, spill over, drain, refuse, keep for life."""

from __future__ import annotations

import pytest

from control_plane.cells.service import CellService
from control_plane.service import PlacementRefusedError, SpecChangeError, TenantService
from planner.stacks import StackFiles
from tests.cells.conftest import Seed, add_pool_cell
from tests.control_plane.control_plane_helpers import spec_data


def _cell_of(tenants: TenantService, tenant: str) -> str:
    return str(tenants.show(tenant).spec["cell"]["name"])


def test_a_full_cell_sends_the_next_tenant_elsewhere_until_every_cell_is_full(
    seeded: Seed, cells: CellService, tenants: TenantService
) -> None:
    seeded(vpcs=2)
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    add_pool_cell(cells, "eu-b", "310000000002", ["eu-west-1"])

    placed = [
        _cell_of(tenants, tenants.create(spec_data(f"ten{i}", "free"), actor="op").tenant_id)
        for i in range(1, 5)
    ]

    # The least-filled cell takes each tenant (ties by name), so they alternate.
    assert placed == ["eu-a", "eu-b", "eu-a", "eu-b"]
    with pytest.raises(PlacementRefusedError) as refused:
        tenants.create(spec_data("ten5", "free"), actor="op")
    message = str(refused.value)
    assert "no cell serving eu-west-1 has room for plan 'free'" in message
    assert "eu-a: VPCs per Region in eu-west-1 would be 3 of 2" in message
    assert "eu-b: VPCs per Region in eu-west-1 would be 3 of 2" in message
    # Nothing of the refused tenant was kept.
    assert [t.tenant_id for t in tenants.tenants()] == ["ten1", "ten2", "ten3", "ten4"]
    assert {c.name: c.tenants for c in cells.cells()} == {
        "eu-a": ["ten1", "ten3"],
        "eu-b": ["ten2", "ten4"],
    }


def test_the_headroom_is_kept_free(
    seeded: Seed, cells: CellService, tenants: TenantService
) -> None:
    seeded(vpcs=4)
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"], headroom=50)

    tenants.create(spec_data("ten1", "free"), actor="op")
    tenants.create(spec_data("ten2", "free"), actor="op")

    with pytest.raises(PlacementRefusedError, match="would be 3 of 2 \\(quota 4 less headroom\\)"):
        tenants.create(spec_data("ten3", "free"), actor="op")


def test_a_drained_cell_takes_no_new_tenants(
    seeded: Seed, cells: CellService, tenants: TenantService
) -> None:
    seeded()
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    add_pool_cell(cells, "eu-b", "310000000002", ["eu-west-1"])
    tenants.create(spec_data("ten1", "free"), actor="op")  # eu-a
    cells.drain("eu-b")

    second = tenants.create(spec_data("ten2", "free"), actor="op")

    assert _cell_of(tenants, second.tenant_id) == "eu-a"
    assert cells.show("eu-b").drained
    cells.drain("eu-a")
    with pytest.raises(PlacementRefusedError, match="eu-a: drained; eu-b: drained"):
        tenants.create(spec_data("ten3", "free"), actor="op")
    cells.drain("eu-b", undo=True)
    assert _cell_of(tenants, tenants.create(spec_data("ten3", "free"), actor="op").tenant_id) == (
        "eu-b"
    )


def test_only_cells_serving_the_region_are_used(
    seeded: Seed, cells: CellService, tenants: TenantService
) -> None:
    seeded()
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1", "eu-central-1"])
    add_pool_cell(cells, "us-a", "320000000001", ["us-east-1"])

    central = tenants.create(spec_data("ten1", "free", region="eu-central-1"), actor="op").tenant_id

    assert _cell_of(tenants, central) == "eu-a"
    with pytest.raises(PlacementRefusedError, match="no pool cell serves region 'us-west-2'"):
        tenants.create(spec_data("ten2", "free", region="us-west-2", residency="us"), actor="op")


def test_an_upgrade_that_does_not_fit_is_refused_naming_the_quota(
    seeded: Seed, cells: CellService, tenants: TenantService, settings_stacks: StackFiles
) -> None:
    seeded(elastic_ips=2)
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    tenants.create(spec_data("ten1", "starter"), actor="op")
    before = tenants.show("ten1")
    stack_file = settings_stacks.path("ten1").read_text()

    with pytest.raises(PlacementRefusedError) as refused:
        tenants.change_plan("ten1", "pro", actor="op")

    assert str(refused.value).startswith(
        "plan 'pro' does not fit cell 'eu-a' of tenant 'ten1': eu-a: EC2-VPC Elastic IPs in "
        "eu-west-1 would be 3 of 2"
    )
    assert "tenantctl cells refresh eu-a" in str(refused.value)
    after = tenants.show("ten1")
    assert (after.plan, after.spec_version) == (before.plan, before.spec_version)
    assert settings_stacks.path("ten1").read_text() == stack_file
    # The same change through an update is refused the same way.
    with pytest.raises(PlacementRefusedError, match="EC2-VPC Elastic IPs"):
        tenants.update("ten1", {"plan": "pro"}, actor="op")

    # Once AWS raised the quota and the cell was measured again, the upgrade goes through.
    seeded(elastic_ips=5)
    cells.refresh("eu-a")
    accepted = tenants.change_plan("ten1", "pro", actor="op")
    assert accepted.job_id is not None
    use = {u.quota: u.used for u in cells.show("eu-a").use if u.scope == "eu-west-1"}
    assert use["elastic-ips"] == 3


def test_the_cell_is_in_the_spec_and_stack_file_and_fixed_for_life(
    seeded: Seed, cells: CellService, tenants: TenantService, settings_stacks: StackFiles
) -> None:
    seeded()
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    accepted = tenants.create(spec_data("ten1", "starter"), actor="op")

    assert accepted.message.startswith(
        "created on plan starter with network 10.64.0.0/22 in cell eu-a"
    )
    spec = settings_stacks.read_spec("ten1")
    assert spec.cell is not None
    assert spec.cell.model_dump() == {
        "name": "eu-a",
        "account_id": "310000000001",
        "role_arn": "arn:aws:iam::310000000001:role/tenants-cell",
        "external_id": "tenants-control-plane",
    }
    with pytest.raises(
        SpecChangeError, match=r"cell cannot be updated \(from .* in the request\): a tenant's cell"
    ):
        tenants.update("ten1", {"cell": {"name": "eu-b"}}, actor="op")
    with pytest.raises(SpecChangeError, match="isolation cannot be updated"):
        tenants.update("ten1", {"isolation": "silo"}, actor="op")
    with pytest.raises(SpecChangeError, match="cell cannot be chosen"):
        tenants.create(spec_data("ten2", "starter", cell={"name": "eu-a"}), actor="op")
    # Changes within the plan keep the placement as it is.
    tenants.update("ten1", {"compute": {"max_size": 2}}, actor="op")
    assert settings_stacks.read_spec("ten1").cell == spec.cell


def test_without_cells_tenants_stay_unplaced(tenants: TenantService) -> None:
    tenants.create(spec_data("ten1", "starter"), actor="op")

    assert "cell" not in tenants.show("ten1").spec


def test_a_registered_stack_file_must_name_a_registered_cell(
    seeded: Seed, cells: CellService, tenants: TenantService, settings_stacks: StackFiles
) -> None:
    from components.spec import TenantSpec  # noqa: PLC0415

    seeded()
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    base = {**spec_data("ten1", "starter"), "network": {"cidr": "10.64.0.0/20"}}
    settings_stacks.write_spec(TenantSpec.model_validate(base))
    with pytest.raises(PlacementRefusedError, match="names no cell, but cells are registered"):
        tenants.register_stack("ten1", actor="op")

    wrong = {
        "name": "eu-a",
        "account_id": "310000000009",
        "role_arn": "arn:aws:iam::310000000009:role/x",
    }
    settings_stacks.write_spec(TenantSpec.model_validate({**base, "cell": wrong}))
    with pytest.raises(PlacementRefusedError, match="not a registered cell"):
        tenants.register_stack("ten1", actor="op")

    right = {
        "name": "eu-a",
        "account_id": "310000000001",
        "role_arn": "arn:aws:iam::310000000001:role/tenants-cell",
        "external_id": "tenants-control-plane",
    }
    settings_stacks.write_spec(TenantSpec.model_validate({**base, "cell": right}))
    tenants.register_stack("ten1", actor="op")
    assert cells.show("eu-a").tenants == ["ten1"]
