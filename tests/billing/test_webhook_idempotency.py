"""Deduplication: the same event delivered 20 times at once is recorded once, with one
change; the SQL store keeps the event and the desired change in one transaction."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.events import Action, BillingEvent, IntentMapper, parse_event
from control_plane.billing.ledger import Decision
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header
from control_plane.billing.store import BillingStore, InMemoryBillingStore, SqlBillingStore
from control_plane.registry.billing_models import BillingEventRecord, SubscriptionLedger
from control_plane.registry.database import Database
from tests.billing.billing_helpers import NOW, SECRET, Clock

DELIVERIES = 20


def _created(event_id: str = "evt_1Created") -> dict[str, Any]:
    return subscription_event(
        "customer.subscription.created",
        event_id=event_id,
        created=NOW - 5,
        subscription_id="sub_1Acme",
        tenant_id="acme",
        plan=PlanName.STARTER,
    )


async def _deliver_concurrently(
    settings: BillingSettings, store: BillingStore, body: bytes, times: int
) -> list[httpx.Response]:
    app = create_app(settings, store, clock=Clock())
    headers = {"Stripe-Signature": signature_header(body, (SECRET,), NOW)}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://billing.test") as client:
        return await asyncio.gather(
            *(client.post("/hooks/billing", content=body, headers=headers) for _ in range(times))
        )


def test_twenty_concurrent_deliveries_record_one_change_in_memory(
    settings: BillingSettings,
) -> None:
    store = InMemoryBillingStore()
    responses = asyncio.run(_deliver_concurrently(settings, store, encode(_created()), DELIVERIES))
    assert [r.status_code for r in responses] == [200] * DELIVERIES
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * (DELIVERIES - 1) + ["recorded"]
    assert len(store.events) == 1
    assert [d.action for d in store.decisions] == [Action.PROVISION]


def test_twenty_concurrent_deliveries_record_one_change_in_sql(
    settings: BillingSettings, database: Database
) -> None:
    hooked: list[Decision] = []

    def on_decision(session: Session, event: BillingEvent, decision: Decision) -> None:
        hooked.append(decision)

    store = SqlBillingStore(database, on_decision=on_decision)
    responses = asyncio.run(_deliver_concurrently(settings, store, encode(_created()), DELIVERIES))
    store.close()
    assert sorted(r.json()["status"] for r in responses).count("recorded") == 1
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(BillingEventRecord)) == 1
        assert session.scalar(select(func.count()).select_from(SubscriptionLedger)) == 1
    assert [d.action for d in hooked] == [Action.PROVISION]


def test_concurrent_records_from_threads_keep_one_event(
    settings: BillingSettings, sql_store: SqlBillingStore
) -> None:
    event = parse_event(encode(_created()), datetime.fromtimestamp(NOW, UTC))
    intent = IntentMapper(settings).intent_for(event)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: sql_store.record(event, intent), range(DELIVERIES)))
    assert results.count(True) == 1


def test_the_sql_store_keeps_the_outcome_and_the_ledger(
    settings: BillingSettings, sql_store: SqlBillingStore
) -> None:
    mapper = IntentMapper(settings)
    received = datetime.fromtimestamp(NOW, UTC)
    for document in (
        _created(),
        subscription_event(
            "customer.subscription.updated",
            event_id="evt_2Upgrade",
            created=NOW - 2,
            subscription_id="sub_1Acme",
            tenant_id="acme",
            plan=PlanName.PRO,
        ),
    ):
        event = parse_event(encode(document), received)
        assert sql_store.record(event, mapper.intent_for(event))
    records = sql_store.events_for("acme")
    assert [(r.id, r.outcome, r.action) for r in records] == [
        ("evt_1Created", "applied", "provision"),
        ("evt_2Upgrade", "applied", "change-plan"),
    ]
    assert records[0].created_at == datetime.fromtimestamp(NOW - 5, UTC)
    state = sql_store.ledger("sub_1Acme")
    assert state is not None and state.snapshot is not None
    assert state.snapshot.plan is PlanName.PRO
    assert sql_store.ledger("sub_unknown") is None


def test_a_refused_change_stores_nothing(settings: BillingSettings, database: Database) -> None:
    def refuse(session: Session, event: BillingEvent, decision: Decision) -> None:
        raise RuntimeError(f"cannot {decision.action} {decision.desired.tenant_id}")

    refusing = SqlBillingStore(database, on_decision=refuse)
    event = parse_event(encode(_created()), datetime.fromtimestamp(NOW, UTC))
    with pytest.raises(RuntimeError, match="cannot provision acme"):
        refusing.record(event, IntentMapper(settings).intent_for(event))
    refusing.close()
    assert refusing.events_for("acme") == []
    assert refusing.ledger("sub_1Acme") is None
    accepting = SqlBillingStore(database)
    assert accepting.record(event, IntentMapper(settings).intent_for(event))
    accepting.close()


def test_a_refused_delivery_does_not_sink_the_others_in_its_batch(
    settings: BillingSettings, database: Database
) -> None:
    def refuse_globex(session: Session, event: BillingEvent, decision: Decision) -> None:
        if str(decision.desired.tenant_id).startswith("globex"):
            raise RuntimeError("globex is blocked")

    store = SqlBillingStore(database, on_decision=refuse_globex)
    mapper = IntentMapper(settings)
    events = []
    for i, tenant in enumerate(["acme", "globex", "initech"] * 4):
        document = subscription_event(
            "customer.subscription.created",
            event_id=f"evt_1Batch{i}",
            created=NOW,
            subscription_id=f"sub_1Batch{i}",
            tenant_id=f"{tenant}-{i}",  # a tenant id belongs to one subscription
            plan=PlanName.PRO,
        )
        events.append(parse_event(encode(document), datetime.fromtimestamp(NOW, UTC)))

    def deliver(event: BillingEvent) -> str:
        try:
            return str(store.record(event, mapper.intent_for(event)))
        except RuntimeError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(deliver, events))
    store.close()
    assert outcomes == ["True", "globex is blocked", "True"] * 4
    assert [len(store.events_for(f"acme-{i}")) for i in range(0, 12, 3)] == [1] * 4
    assert [store.events_for(f"globex-{i}") for i in range(1, 12, 3)] == [[]] * 4


def test_readiness_reports_an_unavailable_store_without_its_internals(
    settings: BillingSettings,
) -> None:
    class Broken(InMemoryBillingStore):
        def ping(self) -> None:
            raise ConnectionError('connection to server at "10.0.0.7", port 5432 failed')

    async def probe() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings, Broken()))
        async with httpx.AsyncClient(transport=transport, base_url="http://billing.test") as client:
            return await client.get("/readyz")

    response = asyncio.run(probe())
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "detail": "the billing store is unavailable",
    }


def test_a_failed_batch_is_reported_and_the_store_recovers(
    settings: BillingSettings, sql_store: SqlBillingStore, database: Database
) -> None:
    mapper = IntentMapper(settings)
    first, second = (
        parse_event(encode(_created(event_id)), datetime.fromtimestamp(NOW, UTC))
        for event_id in ("evt_1First", "evt_1Second")
    )
    assert sql_store.record(first, mapper.intent_for(first))
    # The writer's connection dies between batches (a database restart, a lost socket).
    assert sql_store._connection is not None
    sql_store._connection.close()
    with pytest.raises(Exception, match="closed"):
        sql_store.record(second, mapper.intent_for(second))
    assert sql_store.record(second, mapper.intent_for(second))
    assert [r.id for r in sql_store.events_for("acme")] == ["evt_1First", "evt_1Second"]
