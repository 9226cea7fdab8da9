"""Use cases: create, update, change plan, suspend, resume, delete; bad input writes nothing."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from components.spec import TenantSpec
from control_plane.queue.jobs import JobKind, JobStatus
from control_plane.queue.worker import Worker
from control_plane.registry.cidr import NetworkPoolError
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TransitionError
from control_plane.registry.models import (
    Job,
    NetworkAllocation,
    Operation,
    Tenant,
    TenantSpecVersion,
)
from control_plane.registry.repository import TenantExistsError, TenantNotFoundError
from control_plane.service import (
    InvalidSpecError,
    PurgeNotConfirmedError,
    SpecChangeError,
    StackFileExistsError,
    TenantService,
)
from control_plane.settings import Settings
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import (
    RecordingRunner,
    make_settings,
    queued_job,
    spec_data,
)

ACTOR = "ops@example.com"


def row_counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Tenant, TenantSpecVersion, NetworkAllocation, Job, Operation)
        }


def drain(database: Database, settings: Settings, stacks: StackFiles) -> None:
    Worker(database, settings, RecordingRunner(), stacks=stacks).drain()


def test_create_allocates_network_writes_stack_file_and_queues_provision(
    service: TenantService, stacks: StackFiles
) -> None:
    accepted = service.create(spec_data("acme"), actor=ACTOR)

    assert accepted.state == "pending"
    assert accepted.spec_version == 1
    view = service.show("acme")
    assert view.cidr == "10.64.0.0/22"
    assert stacks.read_spec("acme").network.cidr == ipaddress.IPv4Network("10.64.0.0/22")
    assert view.pending_jobs == [
        {"id": accepted.job_id, "kind": "provision", "status": "queued", "attempts": 0}
    ]
    second = service.create(spec_data("globex"), actor=ACTOR)
    assert service.show(second.tenant_id).cidr == "10.64.4.0/22"
    history = service.history("acme")
    assert [(o.action, o.actor, o.status, o.mode) for o in history] == [
        ("create", ACTOR, "accepted", None)
    ]


def test_create_with_own_network_rejects_overlap(service: TenantService) -> None:
    service.create(spec_data("acme", network={"cidr": "10.80.0.0/16"}), actor=ACTOR)
    with pytest.raises(
        NetworkPoolError, match=r"10\.80\.4\.0/22 overlaps 10\.80\.0\.0/16 of tenant 'acme'"
    ):
        service.create(spec_data("globex", network={"cidr": "10.80.4.0/22"}), actor=ACTOR)
    # The allocator skips blocks taken by hand-picked networks.
    service.create(spec_data("initech"), actor=ACTOR)
    assert service.show("initech").cidr == "10.64.0.0/22"


def test_networks_of_unregistered_stack_files_are_never_handed_out(
    service: TenantService, stacks: StackFiles
) -> None:
    gitops = TenantSpec.model_validate({**spec_data("gitops"), "network": {"cidr": "10.64.0.0/20"}})
    stacks.write_spec(gitops)  # a tenant added by pull request, not through the registry
    service.create(spec_data("acme"), actor=ACTOR)
    assert service.show("acme").cidr == "10.64.16.0/22"
    with pytest.raises(NetworkPoolError, match=r"overlaps 10\.64\.0\.0/20 of tenant 'gitops'"):
        service.create(spec_data("globex", network={"cidr": "10.64.0.0/22"}), actor=ACTOR)


@pytest.mark.parametrize(
    ("request_data", "expected"),
    [
        (
            spec_data("acme", plan="free", compute={"max_size": 4}, region="us-east-1"),
            [
                "region: region 'us-east-1' is outside residency 'eu'",
                "compute.max_size: max_size 4 exceeds plan 'free' limit of 1",
                "invalid tenant spec, 2 errors",
            ],
        ),
        (spec_data("Acme!"), ["tenant_id: tenant id 'Acme!' is not valid: a tenant id is 3"]),
        (spec_data("acme", plan="gold"), ["plan: Input should be 'free', 'starter'"]),
        (
            spec_data("acme", network={"cidr": "8.8.0.0/16"}),
            ["network.cidr: Value error, 8.8.0.0/16 is not in a private range"],
        ),
        (spec_data("acme", colour="blue"), ["colour: Extra inputs are not permitted"]),
    ],
)
def test_invalid_create_names_every_field_and_writes_nothing(
    service: TenantService,
    database: Database,
    stacks: StackFiles,
    request_data: dict[str, Any],
    expected: list[str],
) -> None:
    before = row_counts(database)
    with pytest.raises(InvalidSpecError) as raised:
        service.create(request_data, actor=ACTOR)
    for fragment in expected:
        assert fragment in str(raised.value)
    assert row_counts(database) == before
    assert stacks.tenants() == []


def test_duplicate_tenant_and_foreign_stack_file_are_refused(
    service: TenantService, database: Database, stacks: StackFiles
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    before = row_counts(database)
    with pytest.raises(TenantExistsError, match="tenant 'acme' already exists"):
        service.create(spec_data("acme"), actor=ACTOR)
    # A stack file written by hand (GitOps) is registered, never overwritten.
    stacks.write_spec(
        TenantSpec.model_validate(spec_data("hooli", network={"cidr": "10.99.0.0/16"}))
    )
    with pytest.raises(StackFileExistsError, match="tenants create --from-stack hooli"):
        service.create(spec_data("hooli"), actor=ACTOR)
    assert row_counts(database) == before
    accepted = service.register_stack("hooli", actor=ACTOR)
    assert accepted.state == "pending"
    assert service.show("hooli").cidr == "10.99.0.0/16"


def test_pool_exhaustion_is_an_error_that_says_what_to_do(tmp_path: Any) -> None:
    settings = make_settings(tmp_path, cidr_pool="10.64.0.0/20", cidr_block_prefix=21)
    database = Database(settings.registry_url)
    database.migrate()
    service = TenantService(database, settings)
    service.create(spec_data("t-one"), actor=ACTOR)
    service.create(spec_data("t-two"), actor=ACTOR)
    with pytest.raises(NetworkPoolError, match=r"no free /21 block left \(2 allocated\); widen"):
        service.create(spec_data("t-three"), actor=ACTOR)
    assert [t.tenant_id for t in service.tenants()] == ["t-one", "t-two"]


def test_unknown_tenant_errors_list_known_tenants(service: TenantService) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    for call in (
        lambda: service.update("nope", {"compute": {"max_size": 2}}, actor=ACTOR),
        lambda: service.suspend("nope", actor=ACTOR),
        lambda: service.delete("nope", actor=ACTOR),
        lambda: service.run("nope", JobKind.UP, actor=ACTOR),
        lambda: service.show("nope"),
        lambda: service.history("nope"),
    ):
        with pytest.raises(TenantNotFoundError, match="unknown tenant 'nope'; known tenants: acme"):
            call()


def test_update_coalesces_queued_specs_and_rewrites_stack_file(
    service: TenantService, database: Database, settings: Settings, stacks: StackFiles
) -> None:
    created = service.create(spec_data("acme"), actor=ACTOR)
    first = service.update("acme", {"compute": {"max_size": 3}}, actor=ACTOR)
    second = service.update("acme", {"compute": {"desired_capacity": 2}}, actor=ACTOR)

    assert first.superseded_jobs == [created.job_id]
    assert second.superseded_jobs == [first.job_id]
    assert second.spec_version == 3
    assert "compute.desired_capacity=2" in second.message
    assert stacks.read_spec("acme").effective_capacity == (1, 2, 3)
    # The provision turns into the newest spec's up; only one job remains to run.
    assert [j["id"] for j in service.show("acme").pending_jobs] == [second.job_id]
    assert service.job(queued_job(created)).status == JobStatus.SUPERSEDED
    assert service.job(queued_job(created)).superseded_by == first.job_id

    drain(database, settings, stacks)
    view = service.show("acme")
    assert view.display_state == "active (plan)"
    assert view.outputs["capacity"] == [1, 2, 3]


def test_update_refuses_fields_owned_elsewhere_and_invalid_values(
    service: TenantService, database: Database, stacks: StackFiles
) -> None:
    service.create(spec_data("acme", compute={"instance_type": "t3.medium"}), actor=ACTOR)
    before_file = stacks.path("acme").read_text()
    before = row_counts(database)
    with pytest.raises(SpecChangeError, match=r"network\.cidr cannot be updated"):
        service.update("acme", {"network": {"cidr": "10.90.0.0/16"}}, actor=ACTOR)
    with pytest.raises(SpecChangeError, match="use `tenants suspend` or `tenants resume`"):
        service.update("acme", {"suspended": True}, actor=ACTOR)
    with pytest.raises(
        InvalidSpecError, match=r"compute\.max_size: max_size 9 exceeds plan 'starter'"
    ):
        service.update("acme", {"compute": {"max_size": 9}}, actor=ACTOR)
    with pytest.raises(InvalidSpecError, match=r"instance type 't3\.medium' is not allowed"):
        service.change_plan("acme", "free", actor=ACTOR)
    with pytest.raises(InvalidSpecError, match="unknown plan 'gold'; known plans: free, starter"):
        service.change_plan("acme", "gold", actor=ACTOR)
    assert row_counts(database) == before
    assert stacks.path("acme").read_text() == before_file


def test_update_without_change_queues_nothing(service: TenantService, database: Database) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    before = row_counts(database)
    accepted = service.update("acme", {"plan": "starter"}, actor=ACTOR)
    assert accepted.job_id is None
    assert "no change" in accepted.message
    assert row_counts(database) == before


def test_full_lifecycle_with_plan_change_suspend_resume_and_retirement(
    service: TenantService, database: Database, settings: Settings, stacks: StackFiles
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    drain(database, settings, stacks)
    assert service.show("acme").display_state == "active (plan)"

    upgraded = service.change_plan("acme", "pro", actor="billing")
    assert upgraded.state == "updating (plan)"
    drain(database, settings, stacks)
    view = service.show("acme")
    assert (view.plan, view.display_state, view.outputs["capacity"]) == (
        "pro",
        "active (plan)",
        [2, 2, 6],
    )

    service.suspend("acme", actor="billing", reason="payment failed")
    drain(database, settings, stacks)
    view = service.show("acme")
    assert view.display_state == "suspended (plan)"
    assert view.outputs["capacity"] == [0, 0, 0]
    assert stacks.read_spec("acme").suspended is True
    with pytest.raises(TransitionError, match="cannot suspend tenant 'acme' in state 'suspended'"):
        service.suspend("acme", actor=ACTOR)

    service.resume("acme", actor="billing")
    drain(database, settings, stacks)
    view = service.show("acme")
    assert (view.display_state, view.outputs["capacity"]) == ("active (plan)", [2, 2, 6])

    with pytest.raises(PurgeNotConfirmedError, match="confirm with the tenant id"):
        service.delete("acme", actor=ACTOR, purge=True, confirm="acm")
    service.delete("acme", actor=ACTOR)
    assert service.show("acme").state == "deprovisioning"
    drain(database, settings, stacks)
    view = service.show("acme")
    assert view.display_state == "retired (plan)"
    assert view.retained == ["acme-data-bucket", "acme-key"]
    assert not stacks.path("acme").exists()
    # The network went back to the pool.
    service.create(spec_data("globex"), actor=ACTOR)
    assert service.show("globex").cidr == "10.64.0.0/22"
    with pytest.raises(
        TransitionError,
        match="cannot up tenant 'acme' in state 'retired'; allowed in 'retired': none",
    ):
        service.run("acme", JobKind.UP, actor=ACTOR)

    actions = [(o.action, o.status, o.mode) for o in reversed(service.history("acme"))]
    assert actions == [
        ("create", "accepted", None),
        ("provision", "succeeded", "plan"),
        ("update", "accepted", None),
        ("update", "succeeded", "plan"),
        ("suspend", "accepted", None),
        ("suspend", "succeeded", "plan"),
        ("resume", "accepted", None),
        ("resume", "succeeded", "plan"),
        ("delete", "accepted", None),
        ("deprovision", "succeeded", "plan"),
    ]


def test_purge_is_passed_to_the_destroy(
    service: TenantService, database: Database, settings: Settings, stacks: StackFiles
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    accepted = service.delete("acme", actor=ACTOR, purge=True, confirm="acme")
    assert "data stores purged" in accepted.message
    drain(database, settings, stacks)
    assert service.show("acme").retained == []


def test_failed_stack_file_write_rolls_back_the_request(
    service: TenantService, database: Database, stacks: StackFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    before = row_counts(database)

    def broken_write(spec: TenantSpec) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(stacks, "write_spec", broken_write)
    with pytest.raises(OSError, match="disk full"):
        service.update("acme", {"compute": {"max_size": 3}}, actor=ACTOR)
    assert row_counts(database) == before
    assert service.show("acme").spec_version == 1


def test_a_no_op_update_leaves_the_state_alone_but_still_checks_the_lifecycle(
    service: TenantService, database: Database, settings: Settings, stacks: StackFiles
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    drain(database, settings, stacks)
    assert service.update("acme", {"plan": "starter"}, actor=ACTOR).job_id is None
    assert service.show("acme").state == "active"
    service.delete("acme", actor=ACTOR)
    drain(database, settings, stacks)
    with pytest.raises(TransitionError, match="cannot update tenant 'acme' in state 'retired'"):
        service.update("acme", {"plan": "starter"}, actor=ACTOR)


def test_the_worker_rides_out_an_unreachable_registry(
    service: TenantService,
    database: Database,
    settings: Settings,
    stacks: StackFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    worker = Worker(database, settings, RecordingRunner(), stacks=stacks)
    real_claim = worker.queue.claim
    failures = iter([OperationalError("SELECT", {}, Exception("database is locked"))])

    def flaky_claim(owner: str) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_claim(owner)

    monkeypatch.setattr(worker.queue, "claim", flaky_claim)
    monkeypatch.setattr("control_plane.queue.worker.REGISTRY_RETRY_SECONDS", 0.0)
    assert worker.drain() == 1
    assert service.show("acme").display_state == "active (plan)"


def test_a_create_that_loses_the_race_for_its_id_is_told_the_tenant_exists(
    service: TenantService, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create(spec_data("acme"), actor=ACTOR)
    before = row_counts(database)
    # The other request committed between this one's existence check and its insert.
    monkeypatch.setattr("sqlalchemy.orm.Session.get", lambda *_args, **_kwargs: None)
    with pytest.raises(TenantExistsError, match="tenant 'acme' already exists"):
        service.create(spec_data("acme"), actor=ACTOR)
    monkeypatch.undo()
    assert row_counts(database) == before
