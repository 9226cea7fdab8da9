"""The operator console's reads: the fleet table with its filters and search, a tenant's
jobs with the retryable ones marked, and the audit log merged across its two sources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from control_plane.ops.console import FleetFilter, OperatorConsole
from control_plane.ops.health import HealthCheck
from control_plane.registry.account_models import AccountEvent, User
from control_plane.registry.database import Database
from control_plane.registry.models import utcnow
from control_plane.registry.support_models import CaseSide
from control_plane.service import TenantService
from control_plane.support.cases import Author, SupportService
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import FailingRunner, queued_job, spec_data

Drain = Callable[..., None]


@pytest.fixture
def fleet(service: TenantService, database: Database, drain: Drain) -> dict[str, int]:
    """acme (starter, eu, a failed provision), globex (pro, us, active, two cases, one
    open), acme-labs (starter, eu, active). Returns tenant -> its first job."""
    jobs = {"acme": queued_job(service.create(spec_data("acme"), actor="test"))}
    drain(FailingRunner("VpcLimitExceeded", retryable=False))
    jobs["globex"] = queued_job(
        service.create(
            spec_data("globex", plan="pro", region="us-east-1", residency="us"), actor="test"
        )
    )
    jobs["acme-labs"] = queued_job(service.create(spec_data("acme-labs"), actor="test"))
    drain()
    with database.transaction() as session:
        user = User(email="ana@globex.example", display_name="Ana", password_hash="x")
        session.add(user)
        session.flush()
        author = Author("user:ana@globex.example", user.id, CaseSide.CUSTOMER)
    support = SupportService(database)
    support.open_case("globex", subject="one", body="b", page="/", author=author)
    closed = support.open_case("globex", subject="two", body="b", page="/", author=author)
    support.close(closed.id, tenant_id="globex", actor=author.actor)
    return jobs


def test_the_fleet_table_counts_failing_jobs_and_open_cases(
    database: Database, fleet: dict[str, int]
) -> None:
    page = OperatorConsole(database).fleet(FleetFilter())
    assert page.total == 3
    rows = {r.tenant_id: r for r in page.rows}
    assert [r.tenant_id for r in page.rows] == ["acme", "acme-labs", "globex"]
    assert (rows["acme"].state, rows["acme"].failing_jobs, rows["acme"].open_cases) == (
        "failed",
        1,
        0,
    )
    assert rows["acme"].last_operation == "provision failed"
    assert (rows["globex"].plan, rows["globex"].region, rows["globex"].open_cases) == (
        "pro",
        "us-east-1",
        1,
    )
    assert rows["globex"].last_operation == "provision succeeded"
    assert rows["acme-labs"].failing_jobs == 0


@pytest.mark.parametrize(
    ("wanted", "tenants"),
    [
        (FleetFilter(state="failed"), ["acme"]),
        (FleetFilter(failing=True), ["acme"]),
        (FleetFilter(plan="pro"), ["globex"]),
        (FleetFilter(region="eu-west-1"), ["acme", "acme-labs"]),
        (FleetFilter(search="labs"), ["acme-labs"]),
        (FleetFilter(search="acme", plan="starter", state="active"), ["acme-labs"]),
        (FleetFilter(search="%"), []),
        (FleetFilter(search="_"), []),
        (FleetFilter(region="ap-south-1"), []),
    ],
)
def test_filters_and_search_narrow_the_fleet(
    database: Database, fleet: dict[str, int], wanted: FleetFilter, tenants: list[str]
) -> None:
    page = OperatorConsole(database).fleet(wanted)
    assert [r.tenant_id for r in page.rows] == tenants
    assert page.total == len(tenants)


def test_the_fleet_pages_with_a_total(database: Database, fleet: dict[str, int]) -> None:
    page = OperatorConsole(database).fleet(FleetFilter(), limit=2, offset=1)
    assert ([r.tenant_id for r in page.rows], page.total) == (["acme-labs", "globex"], 3)


def test_a_retried_failure_is_no_longer_failing_nor_retryable(
    service: TenantService,
    database: Database,
    stacks: StackFiles,
    fleet: dict[str, int],
    drain: Drain,
) -> None:
    console = OperatorConsole(database)
    failed = fleet["acme"]
    assert [(j.id, j.status, j.retryable) for j in console.jobs("acme")] == [
        (failed, "failed", True)
    ]
    health = HealthCheck(database, stacks, None, no_aws_reason="none").tenant("acme")
    assert len(health.failing_jobs) == 1

    retry = queued_job(service.retry_job(failed, actor="user:ops@provider.example"))
    drain()

    jobs = console.jobs("acme")
    assert [(j.id, j.status, j.retry_of, j.retryable) for j in jobs] == [
        (retry, "succeeded", failed, False),
        (failed, "failed", None, False),
    ]
    assert console.fleet(FleetFilter(failing=True)).rows == []
    assert (
        HealthCheck(database, stacks, None, no_aws_reason="none").tenant("acme").failing_jobs == []
    )


def test_the_audit_log_merges_account_events_and_requests_newest_first(
    service: TenantService, database: Database, fleet: dict[str, int]
) -> None:
    later = utcnow() + timedelta(minutes=5)
    with database.transaction() as session:
        session.add(
            AccountEvent(
                at=later,
                actor="user:root@provider.example",
                action="user.unlock",
                tenant_id=None,
                subject="ana@globex.example",
                detail="",
            )
        )
    service.suspend("globex", actor="user:ops@provider.example", reason="suspend: abuse report")
    console = OperatorConsole(database)

    entries = console.audit()
    assert (entries[0].action, entries[0].source, entries[0].tenant_id) == (
        "user.unlock",
        "accounts",
        None,
    )
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    suspend = next(e for e in entries if e.action == "suspend")
    assert suspend.source == "operations"
    assert suspend.actor == "user:ops@provider.example"
    assert "abuse report" in suspend.detail

    globex = console.audit(tenant_id="globex")
    assert {e.tenant_id for e in globex} == {"globex"}
    assert {e.action for e in globex} >= {"create", "suspend", "case.open", "case.close"}
    by_ops = console.audit(actor="ops@provider")
    assert [e.action for e in by_ops] == ["suspend"]
    assert console.audit(limit=2, offset=1) == entries[1:3]
