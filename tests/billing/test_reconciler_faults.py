"""The reconciler never dies: one subscription's fault stays with it (kept on its ledger,
retried with backoff, or refused once), the others converge, the loop outlives a stopped
database while the webhook keeps answering, and `/readyz` fails without the loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.events import IntentMapper, parse_event
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.reconcile import BillingReconciler, StepOutcome
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.billing.subscriptions import SubscriptionView, subscriptions
from control_plane.registry.database import Database, open_database
from control_plane.registry.models import Job
from control_plane.service import Accepted, TenantService, TenantView
from control_plane.settings import Settings
from planner.stacks import StackFiles
from tests.billing.billing_helpers import NOW, Clock, TcpProxy, serving, signed
from tests.postgres import postgres_test_url


class FaultyService(TenantService):
    """The tenant service, with creates of chosen tenants raising what a broken
    dependency would raise."""

    broken: set[str]
    creates: list[str]
    starved: set[str]
    """Tenants whose reads find the connection pool exhausted."""

    def show(self, tenant_id: str) -> TenantView:
        if tenant_id in self.starved:
            raise PoolTimeoutError(
                "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30"
            )
        return super().show(tenant_id)

    def create(
        self,
        spec_data: Mapping[str, Any],
        *,
        actor: str,
        also: Callable[[Session], None] | None = None,
    ) -> Accepted:
        self.creates.append(str(spec_data["tenant_id"]))
        if spec_data["tenant_id"] in self.broken:
            raise RuntimeError("injected: the tenant service is broken")
        return super().create(spec_data, actor=actor, also=also)


@dataclass
class Fleet:
    database: Database
    service: FaultyService
    store: SqlBillingStore
    reconciler: BillingReconciler
    clock: Clock
    mapper: IntentMapper

    def deliver(self, event_type: str, subscription: str, tenant: str, **fields: Any) -> None:
        document = subscription_event(
            event_type,
            event_id=f"evt_{subscription}_{int(self.clock.now)}_{len(event_type)}",
            created=int(self.clock.now),
            subscription_id=subscription,
            tenant_id=tenant,
            plan=fields.pop("plan", PlanName.STARTER),
            **fields,
        )
        event = parse_event(encode(document), self.clock_time())
        assert self.store.record(event, self.mapper.intent_for(event))

    def clock_time(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now, UTC)

    def reconcile(self) -> list[tuple[str, str, StepOutcome]]:
        return [(s.tenant_id, s.request, s.outcome) for s in self.reconciler.reconcile()]

    def status(self, subscription: str) -> SubscriptionView:
        (view,) = [v for v in subscriptions(self.database) if v.subscription_id == subscription]
        return view


def _fleet(
    tmp_path: Path, settings: BillingSettings, database: Database, **overrides: Any
) -> Fleet:
    clock = Clock(now=NOW)
    service = FaultyService(
        database,
        Settings(
            data_dir=tmp_path / "data",
            stacks_dir=tmp_path / "stacks",
            runner="offline",
            **overrides,
        ),
    )
    service.broken, service.creates, service.starved = set(), [], set()
    store = SqlBillingStore(database)
    reconciler = BillingReconciler(
        database, service, clock=clock, backoff_seconds=5, backoff_max_seconds=60
    )
    return Fleet(database, service, store, reconciler, clock, IntentMapper(settings))


@pytest.fixture
def fleet(tmp_path: Path, settings: BillingSettings, database: Database) -> Iterator[Fleet]:
    fleet = _fleet(tmp_path, settings, database)
    yield fleet
    fleet.store.close()


def test_a_raising_tenant_service_stops_only_its_subscription(fleet: Fleet) -> None:
    for subscription, tenant in (("sub_A", "acme"), ("sub_B", "globex"), ("sub_C", "initech")):
        fleet.deliver("customer.subscription.created", subscription, tenant)
    fleet.service.broken.add("globex")

    assert fleet.reconcile() == [
        ("acme", "create", StepOutcome.QUEUED),
        ("globex", "create", StepOutcome.FAILED),
        ("initech", "create", StepOutcome.QUEUED),
    ]
    globex = fleet.status("sub_B")
    assert (globex.status, globex.failures) == ("retrying", 1)
    assert globex.last_error == "RuntimeError: injected: the tenant service is broken"
    assert globex.retry_at is not None
    assert globex.retry_at == fleet.clock_time() + timedelta(seconds=5)
    assert fleet.status("sub_A").status == "converged"

    # Backing off: nothing is asked of globex before its retry time, whatever passes run.
    fleet.clock.advance(timedelta(seconds=4))
    assert fleet.reconcile() == []
    fleet.clock.advance(timedelta(seconds=1))
    assert fleet.reconcile() == [("globex", "create", StepOutcome.FAILED)]
    globex = fleet.status("sub_B")
    assert globex.failures == 2
    assert globex.retry_at == fleet.clock_time() + timedelta(seconds=10)  # doubled
    assert fleet.service.creates.count("globex") == 2

    # Meanwhile the others keep converging.
    fleet.deliver("customer.subscription.updated", "sub_A", "acme", plan=PlanName.PRO)
    assert fleet.reconcile() == [("acme", "change-plan", StepOutcome.QUEUED)]

    fleet.service.broken.clear()
    fleet.clock.advance(timedelta(seconds=10))
    assert ("globex", "create", StepOutcome.QUEUED) in fleet.reconcile()
    globex = fleet.status("sub_B")
    assert (globex.status, globex.failures, globex.last_error) == ("converged", 0, None)


def test_a_refusal_that_will_not_change_is_recorded_once(fleet: Fleet, tmp_path: Path) -> None:
    # A hand-written stack file for a tenant the registry does not know: billing may not
    # overwrite it (today's crash of the loop).
    stacks = StackFiles(tmp_path / "stacks")
    stacks.path("ghost").parent.mkdir(parents=True, exist_ok=True)
    stacks.path("ghost").write_text("config: {}\n")
    fleet.deliver("customer.subscription.created", "sub_G", "ghost")
    fleet.deliver("customer.subscription.created", "sub_A", "acme", plan=PlanName.PRO, quantity=40)

    assert fleet.reconcile() == [
        ("acme", "create", StepOutcome.REFUSED),  # 40 workers: over the pro limit of 10
        ("ghost", "create", StepOutcome.REFUSED),
    ]
    ghost = fleet.status("sub_G")
    assert ghost.status == "refused"
    assert ghost.last_error is not None and "Pulumi.ghost.yaml already exists" in ghost.last_error
    assert "max_size 40 exceeds plan 'pro' limit of 10" in str(fleet.status("sub_A").last_error)

    for _ in range(3):
        fleet.clock.advance(timedelta(hours=1))
        assert fleet.reconcile() == []
    assert fleet.service.creates == ["acme", "ghost"]

    # The customer buys what the plan allows: the subscription asks again, and it works.
    fleet.deliver("customer.subscription.updated", "sub_A", "acme", plan=PlanName.PRO, quantity=8)
    assert fleet.reconcile() == [("acme", "create", StepOutcome.QUEUED)]
    assert fleet.status("sub_A").status == "converged"
    assert fleet.status("sub_G").status == "refused"


def test_an_exhausted_network_pool_is_retried_while_others_converge(
    tmp_path: Path, settings: BillingSettings, database: Database
) -> None:
    fleet = _fleet(tmp_path, settings, database, cidr_pool="10.64.0.0/21")  # two /22 blocks
    try:
        for subscription, tenant in (("sub_A", "acme"), ("sub_B", "globex"), ("sub_C", "hooli")):
            fleet.deliver("customer.subscription.created", subscription, tenant)
        assert fleet.reconcile() == [
            ("acme", "create", StepOutcome.QUEUED),
            ("globex", "create", StepOutcome.QUEUED),
            ("hooli", "create", StepOutcome.FAILED),
        ]
        hooli = fleet.status("sub_C")
        assert hooli.status == "retrying"
        assert hooli.last_error is not None and "NetworkPoolError" in hooli.last_error
        with fleet.database.transaction() as session:
            kinds = session.scalars(select(Job.tenant_id).order_by(Job.id)).all()
        assert kinds == ["acme", "globex"]
        fleet.clock.advance(timedelta(seconds=5))
        assert fleet.reconcile() == [("hooli", "create", StepOutcome.FAILED)]
        assert fleet.status("sub_C").failures == 2
    finally:
        fleet.store.close()


def test_an_exhausted_connection_pool_fails_only_the_subscription_it_hit(fleet: Fleet) -> None:
    for subscription, tenant in (("sub_A", "acme"), ("sub_B", "globex")):
        fleet.deliver("customer.subscription.created", subscription, tenant)
    fleet.service.starved.add("acme")
    assert fleet.reconcile() == [
        ("acme", "check", StepOutcome.FAILED),
        ("globex", "create", StepOutcome.QUEUED),
    ]
    acme = fleet.status("sub_A")
    assert (acme.status, acme.failures) == ("retrying", 1)
    assert str(acme.last_error).startswith("TimeoutError: QueuePool limit of size 5")
    fleet.service.starved.clear()
    fleet.clock.advance(timedelta(seconds=5))
    assert fleet.reconcile() == [("acme", "create", StepOutcome.QUEUED)]
    assert fleet.status("sub_A").status == "converged"


def test_readiness_fails_when_the_reconciler_thread_is_not_running(
    tmp_path: Path, settings: BillingSettings, database: Database
) -> None:
    fleet = _fleet(tmp_path, settings, database)

    class Exploding(BillingReconciler):
        def reconcile(self) -> Any:
            raise MemoryError("injected: every pass fails")

    loop = ReconcilerLoop(Exploding(database, fleet.service), interval=0.05, max_backoff=0.1)
    app = create_app(settings, fleet.store, reconciler=loop)
    try:
        with serving(app, settings) as (url, _server):
            assert httpx.get(f"{url}/readyz").json()["detail"] == "the reconciler is not running"
            loop.start()
            time.sleep(0.5)  # several failing passes
            assert loop.running and loop.passes == 0
            time.sleep(1.0)  # past the readiness cache
            assert httpx.get(f"{url}/readyz").status_code == 200
            loop.stop()
            time.sleep(1.0)
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 503
            assert ready.json() == {
                "status": "unavailable",
                "detail": "the reconciler is not running",
            }
            assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        loop.stop()
        fleet.store.close()


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _exists(service: TenantService, tenant: str) -> bool:
    return any(view.tenant_id == tenant for view in service.tenants())


def _post(url: str, subscription: str, tenant: str) -> httpx.Response:
    now = time.time()
    body = encode(
        subscription_event(
            "customer.subscription.created",
            event_id=f"evt_{subscription}",
            created=int(now),
            subscription_id=subscription,
            tenant_id=tenant,
            plan=PlanName.STARTER,
        )
    )
    return httpx.post(f"{url}/hooks/billing", content=body, headers=signed(body, now))


@pytest.mark.postgres
def test_the_loop_outlives_a_stopped_database_while_the_webhook_answers(
    tmp_path: Path, settings: BillingSettings
) -> None:
    direct = make_url(postgres_test_url("billing_outage"))
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    proxy.start()
    database = open_database(
        direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    service = TenantService(
        database,
        Settings(data_dir=tmp_path / "data", stacks_dir=tmp_path / "stacks", runner="offline"),
    )
    store = SqlBillingStore(database)
    reconciler = BillingReconciler(database, service, backoff_seconds=0.2, backoff_max_seconds=1.0)
    loop = ReconcilerLoop(reconciler, interval=0.1, max_backoff=0.5)
    loop.start()
    app = create_app(settings, store, reconciler=loop)
    try:
        with serving(app, settings) as (url, _server):
            assert _post(url, "sub_A", "acme").status_code == 200
            _wait(lambda: _exists(service, "acme"), 15, "acme to be created")

            proxy.stop()  # the database is gone
            assert httpx.get(f"{url}/healthz").status_code == 200
            _wait(lambda: httpx.get(f"{url}/readyz").status_code == 503, 5, "/readyz to fail")
            ready = httpx.get(f"{url}/readyz").text
            assert "the billing store is unavailable" in ready
            for internal in ("127.0.0.1", str(proxy.port), "psycopg", "connection"):
                assert internal not in ready
            refused = _post(url, "sub_B", "globex")
            assert refused.status_code == 503
            assert refused.json()["error"] == "unavailable"
            assert str(proxy.port) not in refused.text
            time.sleep(1.5)  # failing passes
            assert loop.running

            proxy.start()  # the database is back on the same address
            _wait(lambda: _post(url, "sub_B", "globex").status_code == 200, 15, "delivery")
            _wait(lambda: _exists(service, "globex"), 15, "globex to be created")
            _wait(lambda: httpx.get(f"{url}/readyz").status_code == 200, 5, "/readyz")
            assert loop.running
    finally:
        loop.stop()
        store.close()
        proxy.stop()
        database.dispose()


def test_a_request_still_waiting_is_reported_once(fleet: Fleet) -> None:
    fleet.deliver("customer.subscription.created", "sub_A", "acme")
    fleet.reconciler.reconcile()
    fleet.clock.advance(timedelta(seconds=5))
    fleet.deliver("customer.subscription.updated", "sub_A", "acme", status="unpaid")
    first, second = fleet.reconciler.reconcile(), fleet.reconciler.reconcile()
    assert [(s.request, s.outcome, s.repeated) for s in first + second] == [
        ("suspend", StepOutcome.WAITING, False),  # the provision is still running
        ("suspend", StepOutcome.WAITING, True),
    ]
    assert fleet.status("sub_A").status == "waiting"
