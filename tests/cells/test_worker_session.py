"""A queued stack operation assumes the cell's role with a session naming tenant and job."""

from __future__ import annotations

import json

from control_plane.cells.service import CellService
from control_plane.queue.worker import Worker
from control_plane.registry.database import Database
from control_plane.runners.offline import OfflineRunner, PlanStore
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.cells.conftest import Seed, add_pool_cell
from tests.control_plane.control_plane_helpers import queued_job, spec_data


def test_the_workers_plan_assumes_the_cells_role_for_its_job(
    seeded: Seed,
    cells: CellService,
    tenants: TenantService,
    database: Database,
    settings: Settings,
) -> None:
    add_pool_cell(cells, "eu-a", "310000000001", ["eu-west-1"])
    job = queued_job(tenants.create(spec_data("hooli", "starter"), actor="op"))

    Worker(database, settings, OfflineRunner(settings.data_dir)).drain()

    record = PlanStore(settings.data_dir).load("hooli")
    assert record is not None
    [provider] = record.plan.by_type("pulumi:providers:aws")
    assert json.loads(provider.inputs["assumeRoles"]) == [
        {
            "roleArn": "arn:aws:iam::310000000001:role/tenants-cell",
            "externalId": "tenants-control-plane",
            "sessionName": f"tenants-hooli-job-{job}",
        }
    ]
    assert tenants.show("hooli").state == "active"
