"""Invoices from the registry's lifecycle history: segments, numbering, storage, the CLI."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
import typer
from moto import mock_aws
from sqlalchemy import update
from typer.testing import CliRunner

from components.plans import PlanName
from control_plane.billing.history import SpecChange, TenantHistory, segments_in_period
from control_plane.billing.invoice_book import InvoiceBook, NothingToBillError
from control_plane.billing.invoicing import BillingPeriod, LifecycleSegment, SegmentState
from control_plane.billing.metering import MeterReading
from control_plane.cli import app as tenantctl
from control_plane.cli import invoices as invoices_cli
from control_plane.registry.database import Database, open_database
from control_plane.registry.models import Operation, Tenant, TenantSpecVersion
from control_plane.registry.repository import TenantNotFoundError
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.billing.test_metering import REGION, _bundle, _seed_instances

NOVEMBER = BillingPeriod.month(2024, 11)
ACTIVE, SUSPENDED = SegmentState.ACTIVE, SegmentState.SUSPENDED


def _at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def _segment(plan: PlanName, state: SegmentState, start: date, end: date) -> LifecycleSegment:
    return LifecycleSegment(plan=plan, state=state, start=start, end=end)


def test_segments_follow_plan_changes_and_suspensions() -> None:
    history = TenantHistory(
        changes=(
            SpecChange(_at(10, 20), PlanName.STARTER, suspended=False),
            SpecChange(_at(11, 15, 9), PlanName.STARTER, suspended=False),  # spec edit, no change
            SpecChange(_at(11, 15, 10), PlanName.PRO, suspended=False),
            SpecChange(_at(11, 20), PlanName.PRO, suspended=True),
            SpecChange(_at(11, 23), PlanName.PRO, suspended=False),
        )
    )
    assert segments_in_period(history, NOVEMBER) == [
        _segment(PlanName.STARTER, ACTIVE, date(2024, 11, 1), date(2024, 11, 15)),
        _segment(PlanName.PRO, ACTIVE, date(2024, 11, 15), date(2024, 11, 20)),
        _segment(PlanName.PRO, SUSPENDED, date(2024, 11, 20), date(2024, 11, 23)),
        _segment(PlanName.PRO, ACTIVE, date(2024, 11, 23), date(2024, 12, 1)),
    ]


def test_billing_starts_at_creation_and_stops_at_deprovisioning() -> None:
    history = TenantHistory(
        changes=(
            SpecChange(_at(11, 10), PlanName.STARTER, suspended=False),
            SpecChange(_at(11, 10, 18), PlanName.PRO, suspended=False),  # same day: Pro wins
        ),
        retired_at=_at(11, 25),
    )
    assert segments_in_period(history, NOVEMBER) == [
        _segment(PlanName.PRO, ACTIVE, date(2024, 11, 10), date(2024, 11, 25)),
    ]
    assert segments_in_period(history, BillingPeriod.month(2024, 12)) == []
    assert segments_in_period(history, BillingPeriod.month(2024, 10)) == []


@pytest.fixture
def tenants(tmp_path: Path, database: Database) -> TenantService:
    settings = Settings(
        data_dir=tmp_path / "data", stacks_dir=tmp_path / "stacks", runner="offline"
    )
    return TenantService(database, settings)


def _create(tenants: TenantService, tenant_id: str, plan: str = "starter") -> None:
    tenants.create(
        {"tenant_id": tenant_id, "plan": plan, "region": "eu-west-1", "residency": "eu"},
        actor="billing",
    )


def _backdate(database: Database, tenant_id: str, times: list[datetime]) -> None:
    """Spec versions 1..n happened at `times` (the service stamps them with now)."""
    with database.transaction() as session:
        for version, at in enumerate(times, start=1):
            session.execute(
                update(TenantSpecVersion)
                .where(
                    TenantSpecVersion.tenant_id == tenant_id, TenantSpecVersion.version == version
                )
                .values(created_at=at)
            )


def _settle(database: Database, tenant_id: str, state: str = "active") -> None:
    """The worker finished the queued operation (not run in these tests)."""
    with database.transaction() as session:
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(state=state))


def _lifecycle(tenants: TenantService, database: Database, tenant_id: str) -> None:
    """Starter from 20 Oct, Pro from 15 Nov, suspended 20-23 Nov."""
    _create(tenants, tenant_id)
    _settle(database, tenant_id)
    tenants.change_plan(tenant_id, "pro", actor="billing")
    _settle(database, tenant_id)
    tenants.suspend(tenant_id, actor="billing", reason="payment failed")
    _settle(database, tenant_id, "suspended")
    tenants.resume(tenant_id, actor="billing", reason="invoice paid")
    _backdate(database, tenant_id, [_at(10, 20), _at(11, 15), _at(11, 20), _at(11, 23)])


def _usage(segment: LifecycleSegment) -> MeterReading:
    if segment.plan is PlanName.PRO and segment.state is ACTIVE and segment.days == 5:
        return MeterReading(instance_hours=Decimal("500.5"))
    return MeterReading()


def test_an_invoice_is_rated_from_the_registry_history_and_stored(
    tenants: TenantService, database: Database
) -> None:
    _lifecycle(tenants, database, "acme")
    book = InvoiceBook(database)
    invoice = book.issue("acme", NOVEMBER, _usage, issued_on=date(2024, 12, 1))
    assert invoice.number == "INV-202411-0001"
    # 22.87 Starter + 49.83 Pro + 0.69 overage + 79.73 Pro; the suspension is free.
    assert invoice.total == Decimal("153.12")
    assert invoice.plan is PlanName.PRO
    assert book.invoices("acme") == [invoice]


def test_issuing_again_returns_the_stored_invoice_and_numbers_count_up(
    tenants: TenantService, database: Database
) -> None:
    _lifecycle(tenants, database, "acme")
    _create(tenants, "globex", plan="pro")
    _backdate(database, "globex", [_at(11, 1)])
    book = InvoiceBook(database)
    first = book.issue("acme", NOVEMBER, _usage, issued_on=date(2024, 12, 1))
    again = book.issue("acme", NOVEMBER, lambda _s: MeterReading(), issued_on=date(2024, 12, 2))
    other = book.issue("globex", NOVEMBER, lambda _s: MeterReading(), issued_on=date(2024, 12, 1))
    october = book.issue("acme", BillingPeriod.month(2024, 10), _usage, issued_on=date(2024, 11, 1))
    assert again == first
    assert (other.number, other.total) == ("INV-202411-0002", Decimal("299.00"))
    assert october.number == "INV-202410-0001"
    assert [i.number for i in book.invoices("acme")] == ["INV-202411-0001", "INV-202410-0001"]


def test_a_retired_tenant_is_billed_until_its_deprovision_request(
    tenants: TenantService, database: Database
) -> None:
    _create(tenants, "acme", plan="pro")
    _backdate(database, "acme", [_at(10, 1)])
    _settle(database, "acme")
    tenants.delete("acme", actor="billing")
    with database.transaction() as session:
        session.execute(
            update(Operation)
            .where(Operation.tenant_id == "acme", Operation.action == "delete")
            .values(started_at=_at(11, 11))
        )
    invoice = InvoiceBook(database).issue(
        "acme", NOVEMBER, lambda _s: MeterReading(), issued_on=date(2024, 12, 1)
    )
    assert invoice.total == Decimal("99.67")  # 299 * 10 / 30


def test_nothing_to_bill_and_unknown_tenants_are_explained(
    tenants: TenantService, database: Database
) -> None:
    _create(tenants, "acme")
    _backdate(database, "acme", [_at(12, 5)])
    book = InvoiceBook(database)
    with pytest.raises(NothingToBillError, match="'acme' did not exist in 01 Nov 2024 - 30 Nov"):
        book.issue("acme", NOVEMBER, lambda _s: MeterReading(), issued_on=date(2024, 12, 1))
    with pytest.raises(TenantNotFoundError, match="unknown tenant 'nobody'; known tenants: acme"):
        book.invoices("nobody")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    for name in ("TENANTS_DATABASE_URL", "TENANTS_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENANTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TENANTS_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("TENANTS_RUNNER", "offline")
    database = open_database(Settings().registry_url)
    yield database
    database.dispose()


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """tenantctl"""

    invoices_cli.register(app)
    return app


def test_the_cli_issues_shows_and_renders_an_invoice(cli_env: Database, tmp_path: Path) -> None:
    tenants = TenantService(cli_env, Settings())
    _lifecycle(tenants, cli_env, "acme")
    html = tmp_path / "invoice.html"
    runner = CliRunner()
    result = runner.invoke(
        _cli(),
        ["invoices", "acme", "--issue", "2024-11", "--html", str(html)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "INV-202411-0001" in result.output
    assert "$152.43" in result.output
    assert "usage not metered" in result.output
    assert "Invoice INV-202411-0001" in html.read_text()
    listed = runner.invoke(_cli(), ["invoices", "acme", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"total": "152.43"' in listed.output


def test_the_cli_previews_an_open_month_and_refuses_to_issue_it(cli_env: Database) -> None:
    tenants = TenantService(cli_env, Settings())
    _create(tenants, "acme", plan="pro")
    _backdate(cli_env, "acme", [_at(10, 1)])
    runner = CliRunner()
    refused = runner.invoke(_cli(), ["invoices", "acme", "--issue", "2099-01"])
    assert refused.exit_code == 1
    assert "ends on 2099-02-01; an invoice is issued once it is over" in " ".join(
        refused.output.split()
    )
    draft = runner.invoke(_cli(), ["invoices", "acme", "--preview", "2099-01", "--json"])
    assert draft.exit_code == 0, draft.output
    (invoice,) = json.loads(draft.output)
    assert (invoice["number"], invoice["total"]) == (None, "299.00")
    shown = runner.invoke(
        _cli(), ["invoices", "acme", "--preview", "2099-01"], env={"COLUMNS": "200"}
    )
    assert "Draft invoice (not issued)" in shown.output
    assert "no invoices" not in shown.output
    assert InvoiceBook(cli_env).invoices("acme") == []
    both = runner.invoke(_cli(), ["invoices", "acme", "--issue", "2099-01", "--preview", "2099-01"])
    assert both.exit_code == 1
    assert "use either --issue or --preview" in both.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["invoices", "nobody"], "unknown tenant 'nobody'"),
        (["invoices", "acme", "--issue", "2024-13"], "'2024-13' is not a month like 2026-11"),
        (["invoices", "acme", "--issue", "2024-09"], "did not exist in 01 Sep 2024 - 30 Sep 2024"),
    ],
)
def test_the_cli_explains_bad_requests(
    cli_env: Database, arguments: list[str], message: str
) -> None:
    tenants = TenantService(cli_env, Settings())
    _create(tenants, "acme")
    _backdate(cli_env, "acme", [_at(10, 20)])
    result = CliRunner().invoke(_cli(), arguments, env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_the_cli_without_invoices_says_how_to_issue_one(cli_env: Database) -> None:
    _create(TenantService(cli_env, Settings()), "acme")
    result = CliRunner().invoke(_cli(), ["invoices", "acme"])
    assert result.exit_code == 0
    assert "no invoices for acme yet; issue one with --issue YYYY-MM" in result.output


def test_the_cli_meters_usage_from_the_tenants_resources(cli_env: Database) -> None:
    tenants = TenantService(cli_env, Settings())
    _create(tenants, "acme")
    _backdate(cli_env, "acme", [_at(9, 20)])
    with mock_aws():
        aws = {
            name: boto3.client(name, region_name=REGION)
            for name in ("autoscaling", "s3", "cloudwatch")
        }
        # No alarm: moto does not serve DescribeAlarmHistory (see test_metering).
        _bundle(aws, "acme", with_alarm=False)
        # Three workers all October (five-minute datapoints, as the group publishes them):
        # 2,232 instance-hours, 732 beyond Starter's 1,500, and no interval unavailable.
        start = datetime(2024, 10, 1, tzinfo=UTC)
        _seed_instances(
            aws["cloudwatch"], "acme-workers-a1b2", start, [3.0] * 744 * 12, timedelta(minutes=5)
        )
        result = CliRunner().invoke(
            _cli(), ["invoices", "acme", "--issue", "2024-10", "--meter"], env={"COLUMNS": "200"}
        )
    assert result.exit_code == 0, result.output
    assert "$21.96" in result.output
    assert "$70.96" in result.output
    assert "usage not metered" not in result.output
    listed = CliRunner().invoke(_cli(), ["invoices", "acme", "--json"])
    (invoice,) = json.loads(listed.output)
    assert invoice["lines"][1]["description"] == (
        "Instance-hours 01 Oct - 31 Oct: 2232.00 h used, 1500.00 included"
    )


def test_the_cli_explains_a_metering_failure(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(TenantService(cli_env, Settings()), "acme")
    _backdate(cli_env, "acme", [_at(9, 20)])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = CliRunner().invoke(
        _cli(), ["invoices", "acme", "--issue", "2024-10", "--meter"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    shown = " ".join(result.output.split())
    assert "--meter cannot reach AWS (Could not connect to the endpoint URL" in shown
    assert "tenantctl sandbox" in shown


def test_the_service_level_report_reads_availability(cli_env: Database) -> None:
    _create(TenantService(cli_env, Settings()), "acme", plan="pro")
    _backdate(cli_env, "acme", [_at(9, 20)])
    with mock_aws():
        aws = {
            name: boto3.client(name, region_name=REGION)
            for name in ("autoscaling", "s3", "cloudwatch")
        }
        _bundle(aws, "acme", with_alarm=False)
        counts: list[float | None] = [2.0] * 31 * 288
        counts[500:513] = [0.0] * 13  # 65 minutes without an instance in service
        start = datetime(2024, 10, 1, tzinfo=UTC)
        _seed_instances(aws["cloudwatch"], "acme-workers-a1b2", start, counts, timedelta(minutes=5))
        result = CliRunner().invoke(
            tenantctl, ["slo", "acme", "--month", "2024-10", "--json"], env={"COLUMNS": "200"}
        )
        text = CliRunner().invoke(
            tenantctl, ["slo", "acme", "--month", "2024-10"], env={"COLUMNS": "200"}
        )
        missing = CliRunner().invoke(tenantctl, ["slo", "acme", "--month", "2024-08"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["achieved_percent"] == "99.854"
    assert report["measured_minutes"] == "44640"
    assert report["met"] is False
    assert report["credit"] == "-29.90"
    assert "availability 99.854% against 99.9% (pro): missed" in " ".join(text.output.split())
    assert missing.exit_code == 1
    assert "did not exist in 01 Aug 2024" in " ".join(missing.output.split())
