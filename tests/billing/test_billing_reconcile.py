"""From signed events to registry requests: one job per change, the full subscription
lifecycle with the grace period on a controlled clock, scaling by quantity."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.samples import encode, invoice_event, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.registry.database import Database
from control_plane.registry.models import Job, Tenant
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.billing.billing_helpers import NOW, SECRET, Clock

SUB = "sub_1Acme"


async def _post(
    settings: BillingSettings, store: SqlBillingStore, clock: Clock, bodies: list[bytes]
) -> list[int]:
    app = create_app(settings, store, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://billing.test") as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/hooks/billing",
                    content=body,
                    headers={"Stripe-Signature": signature_header(body, (SECRET,), int(clock.now))},
                )
                for body in bodies
            )
        )
    return [r.status_code for r in responses]


@dataclass
class Billing:
    """The webhook, the registry and the reconciler of one test, on one clock."""

    settings: BillingSettings
    store: SqlBillingStore
    clock: Clock
    reconciler: BillingReconciler
    service: TenantService
    database: Database

    def deliver(self, *documents: dict[str, Any]) -> None:
        bodies = [encode(d) for d in documents]
        statuses = asyncio.run(_post(self.settings, self.store, self.clock, bodies))
        assert statuses == [200] * len(documents)

    def reconcile(self) -> list[tuple[str, str | None]]:
        return [(s.request, s.error) for s in self.reconciler.reconcile()]


@pytest.fixture
def billing(tmp_path: Path, settings: BillingSettings, database: Database) -> Iterator[Billing]:
    clock = Clock(now=NOW)
    service = TenantService(
        database,
        Settings(data_dir=tmp_path / "data", stacks_dir=tmp_path / "stacks", runner="offline"),
    )
    store = SqlBillingStore(database)
    reconciler = BillingReconciler(database, service, clock=clock)
    yield Billing(settings, store, clock, reconciler, service, database)
    store.close()


def _sub(event_type: str, event_id: str, clock: Clock, **fields: Any) -> dict[str, Any]:
    return subscription_event(
        event_type,
        event_id=event_id,
        created=int(clock.now),
        subscription_id=SUB,
        tenant_id="acme",
        plan=fields.pop("plan", PlanName.STARTER),
        display_name="Acme GmbH",
        **fields,
    )


def _invoice(event_type: str, event_id: str, clock: Clock) -> dict[str, Any]:
    return invoice_event(
        event_type,
        event_id=event_id,
        created=int(clock.now),
        subscription_id=SUB,
        invoice_id=f"in_{event_id}",
        plan=PlanName.PRO,
    )


def _jobs(database: Database, tenant_id: str = "acme") -> list[tuple[str, bool]]:
    with database.transaction() as session:
        rows = session.execute(
            select(Job.kind, Job.purge).where(Job.tenant_id == tenant_id).order_by(Job.id)
        ).all()
    return [(kind, purge) for kind, purge in rows]


def _settle(database: Database, state: str) -> None:
    """The worker ran the queued jobs (the worker has its own tests)."""
    with database.transaction() as session:
        session.execute(update(Tenant).where(Tenant.id == "acme").values(state=state))
        session.execute(update(Job).where(Job.tenant_id == "acme").values(status="succeeded"))


def test_twenty_concurrent_deliveries_make_one_tenant_and_one_job(billing: Billing) -> None:
    body = encode(_sub("customer.subscription.created", "evt_1Created", billing.clock))
    assert (
        asyncio.run(_post(billing.settings, billing.store, billing.clock, [body] * 20))
        == [200] * 20
    )
    assert billing.reconcile() == [("create", None)]
    assert billing.reconcile() == []
    assert _jobs(billing.database) == [("provision", False)]
    with billing.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 1


def test_the_full_lifecycle_from_events(billing: Billing) -> None:
    billing.deliver(_sub("customer.subscription.created", "evt_1C", billing.clock))
    assert billing.reconcile() == [("create", None)]
    acme = billing.service.show("acme")
    assert (acme.state, acme.plan, acme.display_name) == ("pending", "starter", "Acme GmbH")
    _settle(billing.database, "active")

    billing.clock.advance(timedelta(days=3))
    billing.deliver(
        _sub("customer.subscription.updated", "evt_2Up", billing.clock, plan=PlanName.PRO),
    )
    assert billing.reconcile() == [("change-plan", None)]
    assert billing.service.show("acme").plan == "pro"
    _settle(billing.database, "active")

    billing.clock.advance(timedelta(days=7))
    billing.deliver(_invoice("invoice.payment_failed", "evt_3F", billing.clock))
    assert billing.reconcile() == []  # inside the grace period
    billing.clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert billing.reconcile() == []
    billing.clock.advance(timedelta(seconds=1))
    assert billing.reconcile() == [("suspend", None)]
    assert billing.service.show("acme").spec["suspended"] is True
    _settle(billing.database, "suspended")

    billing.clock.advance(timedelta(days=1))
    billing.deliver(_invoice("invoice.paid", "evt_4P", billing.clock))
    assert billing.reconcile() == [("resume", None)]
    assert "suspended" not in billing.service.show("acme").spec
    _settle(billing.database, "active")

    billing.clock.advance(timedelta(days=5))
    billing.deliver(
        _sub(
            "customer.subscription.deleted",
            "evt_5D",
            billing.clock,
            plan=PlanName.PRO,
            status="canceled",
        ),
    )
    assert billing.reconcile() == [("delete", None)]
    assert billing.service.show("acme").state == "deprovisioning"
    _settle(billing.database, "retired")
    assert billing.reconcile() == []
    assert _jobs(billing.database) == [
        ("provision", False),
        ("update", False),
        ("suspend", False),
        ("resume", False),
        ("deprovision", False),  # purge=False: data retained
    ]


def test_an_unpaid_subscription_is_provisioned_suspended_then_resumed(billing: Billing) -> None:
    billing.deliver(
        _sub("customer.subscription.created", "evt_1C", billing.clock),
        _sub("customer.subscription.updated", "evt_2U", billing.clock, status="unpaid"),
    )
    # The newest snapshot says unpaid: the tenant is created with compute at zero.
    assert billing.reconcile() == [("create", None)]
    assert billing.service.show("acme").spec["suspended"] is True
    _settle(billing.database, "suspended")
    billing.clock.advance(timedelta(hours=1))
    billing.deliver(_sub("customer.subscription.updated", "evt_3A", billing.clock))
    assert billing.reconcile() == [("resume", None)]


def test_a_refused_request_is_retried_on_the_next_pass(billing: Billing) -> None:
    billing.deliver(_sub("customer.subscription.created", "evt_1C", billing.clock))
    billing.reconciler.reconcile()
    billing.clock.advance(timedelta(seconds=5))
    billing.deliver(
        _sub("customer.subscription.updated", "evt_2U", billing.clock, status="unpaid"),
    )
    (step,) = billing.reconciler.reconcile()
    assert step.request == "suspend"
    assert (
        step.error is not None and "cannot suspend tenant 'acme' in state 'pending'" in step.error
    )
    _settle(billing.database, "active")
    assert billing.reconcile() == [("suspend", None)]


def test_quantity_scales_the_workers_within_the_plan(billing: Billing) -> None:
    billing.deliver(
        _sub(
            "customer.subscription.created", "evt_1C", billing.clock, plan=PlanName.PRO, quantity=3
        ),
    )
    assert billing.reconcile() == [("create", None)]
    assert billing.service.show("acme").spec["compute"] == {"desired_capacity": 3, "max_size": 6}
    _settle(billing.database, "active")
    billing.clock.advance(timedelta(minutes=1))
    billing.deliver(
        _sub(
            "customer.subscription.updated", "evt_2Q", billing.clock, plan=PlanName.PRO, quantity=8
        ),
    )
    assert billing.reconcile() == [("scale", None)]
    assert billing.service.show("acme").spec["compute"] == {"desired_capacity": 8, "max_size": 8}
    _settle(billing.database, "active")
    billing.clock.advance(timedelta(minutes=1))
    billing.deliver(
        _sub(
            "customer.subscription.updated", "evt_3Q", billing.clock, plan=PlanName.PRO, quantity=40
        ),
    )
    (step,) = billing.reconciler.reconcile()
    assert step.request == "scale"
    assert step.error is not None and "max_size 40 exceeds plan 'pro' limit of 10" in step.error
