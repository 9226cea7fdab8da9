"""`diagnose` shows a placed tenant's quota use in its cell, and the next step once a quota
is reached; a tenant outside any cell says its quotas are not tracked."""

from __future__ import annotations

from control_plane.cells.service import CellService
from control_plane.ops.diagnose import Diagnostician
from control_plane.ops.health import HealthCheck
from control_plane.registry.database import Database
from control_plane.service import TenantService
from planner.stacks import StackFiles
from tests.cells.conftest import Seed, add_pool_cell
from tests.control_plane.control_plane_helpers import spec_data


def test_a_reached_quota_is_shown_with_its_next_step(
    seeded: Seed,
    cells: CellService,
    tenants: TenantService,
    database: Database,
    settings_stacks: StackFiles,
) -> None:
    seeded(vpcs=2)
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    tenants.create(spec_data("acme", "free"), actor="op")

    report = Diagnostician(
        database, HealthCheck(database, settings_stacks, None, no_aws_reason="-")
    ).diagnose("acme")

    quotas = report.quotas
    assert (quotas.cell, quotas.account_id, quotas.headroom_percent) == ("eu-a", "310000000001", 0)
    assert {row.scope for row in quotas.use} == {"eu-west-1", "account"}
    vpcs = next(row for row in quotas.use if row.title == "VPCs per Region")
    assert (vpcs.used, vpcs.limit) == (1, 2)
    assert quotas.reached == []
    assert not any(step.startswith("quota reached") for step in report.next_steps)

    tenants.create(spec_data("globex", "free"), actor="op")
    report = Diagnostician(
        database, HealthCheck(database, settings_stacks, None, no_aws_reason="-")
    ).diagnose("acme")

    assert [row.title for row in report.quotas.reached] == ["VPCs per Region"]
    [step] = [s for s in report.next_steps if s.startswith("quota reached")]
    assert step.startswith(
        "quota reached in cell eu-a: VPCs per Region in eu-west-1 is at 2 of 2 (quota 2 less "
        "0% headroom)"
    )
    assert "raise the quota in account 310000000001" in step
    assert "`tenantctl cells refresh eu-a`" in step


def test_a_tenant_outside_any_cell_has_no_tracked_quotas(
    tenants: TenantService, database: Database, settings_stacks: StackFiles
) -> None:
    tenants.create(spec_data("acme", "free"), actor="op")
    report = Diagnostician(
        database, HealthCheck(database, settings_stacks, None, no_aws_reason="-")
    ).diagnose("acme")
    assert report.quotas.cell is None and report.quotas.use == []
