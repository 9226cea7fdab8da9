"""A tenant belongs to one subscription: the one whose event created it, or the one an
operator linked it to. Another subscription naming it is refused and recorded, even when
two race for the id; tenants made outside billing are never taken over."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from components.plans import PlanName
from control_plane.billing.events import IntentMapper, parse_event
from control_plane.billing.ledger import SubscriptionState
from control_plane.billing.reconcile import BillingReconciler, StepOutcome
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.billing.subscriptions import LinkError, link, subscriptions
from control_plane.cli import app as tenantctl
from control_plane.registry.billing_models import (
    BillingEventRecord,
    SubscriptionLedger,
    TenantOwner,
)
from control_plane.registry.database import Database
from control_plane.registry.models import Job, Tenant
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.billing.billing_helpers import NOW, SECRET, Clock


class Billing:
    """Stores, reconcilers and the registry of one test, on one clock."""

    def __init__(self, tmp_path: Path, settings: BillingSettings, database: Database) -> None:
        self.database = database
        self.clock = Clock(now=NOW)
        self.registry_settings = Settings(
            data_dir=tmp_path / "data", stacks_dir=tmp_path / "stacks", runner="offline"
        )
        self.service = TenantService(database, self.registry_settings)
        self.mapper = IntentMapper(settings)
        self.store = SqlBillingStore(database)
        self._count = 0

    def event(
        self,
        event_type: str,
        subscription: str,
        tenant: str,
        plan: PlanName = PlanName.STARTER,
        **fields: Any,
    ) -> Any:
        self._count += 1
        document = subscription_event(
            event_type,
            event_id=f"evt_{subscription}_{self._count}",
            created=int(self.clock.now),
            subscription_id=subscription,
            tenant_id=tenant,
            plan=plan,
            customer=f"cus_{subscription.removeprefix('sub_')}",
            **fields,
        )
        return parse_event(encode(document), datetime.fromtimestamp(self.clock.now, UTC))

    def deliver(self, *args: Any, store: SqlBillingStore | None = None, **fields: Any) -> None:
        event = self.event(*args, **fields)
        assert (store or self.store).record(event, self.mapper.intent_for(event))

    def reconciler(self) -> BillingReconciler:
        return BillingReconciler(
            self.database, TenantService(self.database, self.registry_settings), clock=self.clock
        )

    def reconcile(self) -> list[tuple[str, str, StepOutcome]]:
        return [(s.subscription_id, s.request, s.outcome) for s in self.reconciler().reconcile()]

    def outcome_of(self, subscription: str) -> list[tuple[str, str]]:
        with self.database.transaction() as session:
            rows = session.execute(
                select(BillingEventRecord.outcome, BillingEventRecord.reason)
                .where(BillingEventRecord.subscription_id == subscription)
                .order_by(BillingEventRecord.received_at, BillingEventRecord.id)
            ).all()
        return [(outcome, reason) for outcome, reason in rows]

    def owners(self) -> dict[str, str]:
        with self.database.transaction() as session:
            rows = session.execute(select(TenantOwner.tenant_id, TenantOwner.subscription_id))
            return {tenant: subscription for tenant, subscription in rows}

    def jobs(self, tenant: str) -> list[str]:
        with self.database.transaction() as session:
            return list(
                session.scalars(select(Job.kind).where(Job.tenant_id == tenant).order_by(Job.id))
            )

    def status(self, subscription: str) -> tuple[str, str | None]:
        (view,) = [v for v in subscriptions(self.database) if v.subscription_id == subscription]
        return view.status, view.last_error


@pytest.fixture
def billing(tmp_path: Path, settings: BillingSettings, database: Database) -> Iterator[Billing]:
    billing = Billing(tmp_path, settings, database)
    yield billing
    billing.store.close()


def test_another_subscription_naming_a_taken_tenant_is_refused_and_recorded(
    billing: Billing,
) -> None:
    billing.deliver("customer.subscription.created", "sub_A", "acme")
    assert billing.reconcile() == [("sub_A", "create", StepOutcome.QUEUED)]
    assert billing.owners() == {"acme": "sub_A"}

    billing.clock.advance(timedelta(minutes=1))
    billing.deliver("customer.subscription.created", "sub_B", "acme", PlanName.PRO)
    billing.clock.advance(timedelta(minutes=1))
    billing.deliver("customer.subscription.deleted", "sub_B", "acme", status="canceled")
    ((outcome, reason), (outcome_2, _)) = billing.outcome_of("sub_B")
    assert (outcome, outcome_2) == ("refused", "refused")
    assert "tenant 'acme' belongs to subscription sub_A" in reason
    status, error = billing.status("sub_B")
    assert status == "refused" and error is not None and "belongs to subscription sub_A" in error

    # Neither the plan flip nor the cancellation reaches the first customer's tenant.
    assert billing.reconcile() == []
    acme = billing.service.show("acme")
    assert (acme.plan, acme.state) == ("starter", "pending")
    assert billing.jobs("acme") == ["provision"]
    with billing.database.transaction() as session:
        owner = session.get(TenantOwner, "acme")
        assert owner is not None
        assert (owner.customer_id, owner.bound_by, owner.actor) == ("cus_A", "created", "billing")


def test_two_subscriptions_racing_for_one_tenant_id_leave_it_to_one(
    billing: Billing, database: Database
) -> None:
    # Two webhook processes (stores) and two reconcilers on one database, all at once.
    other_store = SqlBillingStore(database)
    try:
        barrier = threading.Barrier(2)

        def deliver(subscription: str, plan: PlanName, store: SqlBillingStore) -> None:
            event = billing.event("customer.subscription.created", subscription, "acme", plan)
            intent = billing.mapper.intent_for(event)
            barrier.wait()
            store.record(event, intent)

        senders = [
            threading.Thread(target=deliver, args=("sub_A", PlanName.STARTER, billing.store)),
            threading.Thread(target=deliver, args=("sub_B", PlanName.PRO, other_store)),
        ]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
    finally:
        other_store.close()

    reconcilers = [billing.reconciler(), billing.reconciler()]
    start = threading.Barrier(2)

    def run(reconciler: BillingReconciler) -> None:
        start.wait()
        for _ in range(3):
            reconciler.reconcile()
            billing.clock.advance(timedelta(minutes=10))

    runners = [threading.Thread(target=run, args=(r,)) for r in reconcilers]
    for thread in runners:
        thread.start()
    for thread in runners:
        thread.join()
    billing.reconcile()

    owners = billing.owners()
    assert list(owners) == ["acme"]
    winner = owners["acme"]
    loser = "sub_B" if winner == "sub_A" else "sub_A"
    with billing.database.transaction() as session:
        assert session.scalars(select(Tenant.id)).all() == ["acme"]
    assert billing.jobs("acme") == ["provision"]
    assert billing.service.show("acme").plan == ("starter" if winner == "sub_A" else "pro")
    status, error = billing.status(loser)
    assert status == "refused"
    assert error is not None and f"belongs to subscription {winner}" in error


def test_a_tenant_created_from_the_cli_is_taken_over_only_once_linked(
    billing: Billing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing.service.create(
        {"tenant_id": "acme", "plan": "starter", "region": "eu-west-1", "residency": "eu"},
        actor="alice",
    )
    billing.deliver("customer.subscription.created", "sub_C", "acme", PlanName.PRO)
    assert billing.reconcile() == [("sub_C", "check", StepOutcome.REFUSED)]
    status, error = billing.status("sub_C")
    assert status == "refused"
    assert error is not None and "tenantctl billing link acme --subscription sub_C" in error
    billing.clock.advance(timedelta(hours=1))
    assert billing.reconcile() == []  # refused once, not every pass
    billing.deliver("customer.subscription.deleted", "sub_C", "acme", status="canceled")
    assert billing.reconcile() == [("sub_C", "check", StepOutcome.REFUSED)]
    assert billing.service.show("acme").state == "pending"  # never deprovisioned by billing
    assert billing.owners() == {}

    # The operator sees it and links the tenant (to a live subscription).
    _environment(monkeypatch, tmp_path, billing)
    billing.deliver("customer.subscription.created", "sub_D", "hooli", PlanName.PRO)
    cli = CliRunner()
    shown = cli.invoke(tenantctl, ["billing", "status", "--problems"])
    assert shown.exit_code == 0, shown.output
    assert "sub_C" in shown.output and "refused" in shown.output
    fleet = cli.invoke(tenantctl, ["status"])
    assert "billing sub_C (acme): refused: tenant 'acme' was not created by billing" in " ".join(
        fleet.output.split()
    )
    problems = json.loads(cli.invoke(tenantctl, ["status", "--json"]).output)["billing_problems"]
    assert [p["subscription_id"] for p in problems] == ["sub_C"]

    refused = cli.invoke(tenantctl, ["billing", "link", "acme", "--subscription", "sub_C"])
    assert refused.exit_code == 1
    assert "subscription sub_C has ended; linking would retire tenant 'acme'" in " ".join(
        refused.output.split()
    )
    billing.service.create(
        {"tenant_id": "hooli", "plan": "starter", "region": "eu-west-1", "residency": "eu"},
        actor="alice",
    )
    linked = cli.invoke(
        tenantctl, ["billing", "link", "hooli", "--subscription", "sub_D", "--actor", "bob"]
    )
    assert linked.exit_code == 0, linked.output
    assert "tenant hooli now belongs to subscription sub_D (customer cus_D)" in linked.output
    assert billing.owners() == {"hooli": "sub_D"}
    (last, *_) = billing.service.history("hooli")
    assert (last.action, last.actor, last.message) == (
        "billing-link",
        "bob",
        "linked to subscription sub_D (customer cus_D)",
    )
    assert ("sub_D", "change-plan", StepOutcome.QUEUED) in billing.reconcile()
    assert billing.service.show("hooli").plan == "pro"


def test_linking_says_what_is_wrong(billing: Billing) -> None:
    billing.service.create(
        {"tenant_id": "acme", "plan": "starter", "region": "eu-west-1", "residency": "eu"},
        actor="alice",
    )
    billing.deliver("customer.subscription.created", "sub_A", "acme", region="eu-central-1")
    billing.deliver("customer.subscription.created", "sub_G", "globex")
    billing.reconcile()
    cases = {
        ("acme", "sub_X"): "unknown subscription 'sub_X'",
        ("acme", "sub_G"): "subscription sub_G names tenant 'globex', not 'acme'",
        ("acme", "sub_A"): "asks for region 'eu-central-1' but tenant 'acme' runs in 'eu-west-1'",
        ("globex", "sub_G"): "tenant 'globex' already belongs to subscription sub_G",
    }
    for (tenant, subscription), message in cases.items():
        with pytest.raises(LinkError, match=message.replace("(", r"\(")):
            link(billing.database, tenant, subscription, actor="bob")
    assert billing.owners() == {"globex": "sub_G"}


def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, billing: Billing) -> None:
    monkeypatch.setenv("TENANTS_DATABASE_URL", billing.database.url)
    monkeypatch.setenv("TENANTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TENANTS_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("TENANTS_RUNNER", "offline")
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", json.dumps([SECRET]))


def test_the_owner_records_the_customer_as_an_id_or_an_expanded_object(
    billing: Billing,
) -> None:
    event = billing.event("customer.subscription.created", "sub_A", "acme")
    expanded = event.object | {"customer": {"id": "cus_Expanded", "object": "customer"}}
    document = {
        "id": "evt_1Expanded",
        "type": event.type,
        "created": NOW,
        "data": {"object": expanded},
    }
    event = parse_event(json.dumps(document).encode(), datetime.fromtimestamp(NOW, UTC))
    assert billing.store.record(event, billing.mapper.intent_for(event))
    assert billing.reconcile() == [("sub_A", "create", StepOutcome.QUEUED)]
    with billing.database.transaction() as session:
        owner = session.get(TenantOwner, "acme")
        assert owner is not None and owner.customer_id == "cus_Expanded"


def test_two_ledgers_claiming_one_tenant_still_give_it_to_one(billing: Billing) -> None:
    # Two webhook processes on PostgreSQL can both let a first claim through (neither sees
    # the other's uncommitted ledger); the create's binding then decides, whoever runs first.
    billing.deliver("customer.subscription.created", "sub_A", "acme")
    billing.deliver("customer.subscription.created", "sub_B", "acme-b", PlanName.PRO)
    with billing.database.transaction() as session:
        ledger = session.get(SubscriptionLedger, "sub_B")
        assert ledger is not None
        state = SubscriptionState.model_validate(ledger.state)
        assert state.snapshot is not None
        claimed = state.snapshot.model_copy(update={"tenant_id": "acme"})
        ledger.state = state.model_copy(update={"snapshot": claimed}).model_dump(mode="json")
        ledger.tenant_id = "acme"

    reconcilers = [billing.reconciler() for _ in range(4)]
    start = threading.Barrier(len(reconcilers))
    outcomes: list[tuple[str, str, StepOutcome]] = []

    def run(reconciler: BillingReconciler) -> None:
        start.wait()
        outcomes.extend((s.subscription_id, s.request, s.outcome) for s in reconciler.reconcile())

    threads = [threading.Thread(target=run, args=(r,)) for r in reconcilers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    billing.clock.advance(timedelta(minutes=10))  # past any backoff
    billing.reconcile()

    assert list(billing.owners()) == ["acme"]
    winner = billing.owners()["acme"]
    loser = "sub_B" if winner == "sub_A" else "sub_A"
    assert billing.jobs("acme") == ["provision"]
    assert billing.status(loser)[0] == "refused"
    assert billing.status(winner)[0] == "converged"
    assert sum(1 for o in outcomes if o[1:] == ("create", StepOutcome.QUEUED)) == 1
