"""Mapping events to lifecycle intents: prices to plans, tenant metadata, payload errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.plans import PlanName
from components.spec import Residency
from control_plane.billing.events import (
    Action,
    BillingEvent,
    Ignored,
    IntentMapper,
    LifecycleIntent,
    MalformedEvent,
    SubscriptionPhase,
    parse_event,
)
from control_plane.billing.samples import (
    checkout_completed_event,
    encode,
    invoice_event,
    subscription_event,
)
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import InMemoryBillingStore, Outcome
from tests.billing.billing_helpers import NOW, Sender

RECEIVED = datetime.fromtimestamp(NOW, UTC)


def _event(document: dict[str, Any]) -> BillingEvent:
    return parse_event(encode(document), RECEIVED)


def _subscription(
    event_type: str = "customer.subscription.created", **overrides: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "evt_1Sub",
        "created": NOW - 60,
        "subscription_id": "sub_1Acme",
        "tenant_id": "acme",
        "plan": PlanName.PRO,
        "region": "eu-central-1",
        **overrides,
    }
    return subscription_event(event_type, **fields)


def _intent(settings: BillingSettings, document: dict[str, Any]) -> LifecycleIntent:
    intent = IntentMapper(settings).intent_for(_event(document))
    assert isinstance(intent, LifecycleIntent)
    return intent


def test_a_created_subscription_asks_to_provision_its_tenant(settings: BillingSettings) -> None:
    intent = _intent(settings, _subscription(quantity=3, display_name="Acme GmbH"))
    assert intent.action is Action.PROVISION
    assert intent.subscription_id == "sub_1Acme"
    assert intent.as_of == (NOW - 60, 1, "evt_1Sub")
    snapshot = intent.snapshot
    assert snapshot is not None
    assert (snapshot.tenant_id, snapshot.plan, snapshot.quantity) == ("acme", PlanName.PRO, 3)
    assert (snapshot.region, snapshot.residency) == ("eu-central-1", Residency.EU)
    assert snapshot.display_name == "Acme GmbH"
    assert snapshot.phase is SubscriptionPhase.RUNNING


def test_prices_map_to_plans_by_price_id_or_lookup_key(settings: BillingSettings) -> None:
    by_key = _intent(settings, _subscription(plan=PlanName.STARTER))
    assert by_key.snapshot is not None and by_key.snapshot.plan is PlanName.STARTER
    document = _subscription(lookup_key="not-configured")
    document["data"]["object"]["items"]["data"][0]["price"]["id"] = "price_1LegacyPro"
    by_id = _intent(settings, document)
    assert by_id.snapshot is not None and by_id.snapshot.plan is PlanName.PRO


def test_an_unmapped_price_is_refused_with_the_configured_ones(settings: BillingSettings) -> None:
    document = _subscription(lookup_key="gold-yearly")
    with pytest.raises(MalformedEvent, match=r"lookup key 'gold-yearly'.*is not mapped to a plan"):
        IntentMapper(settings).intent_for(_event(document))


@pytest.mark.parametrize(
    ("status", "phase", "action"),
    [
        ("incomplete", SubscriptionPhase.PENDING, None),
        ("trialing", SubscriptionPhase.RUNNING, Action.CHANGE_PLAN),
        ("past_due", SubscriptionPhase.RUNNING, Action.CHANGE_PLAN),
        ("unpaid", SubscriptionPhase.SUSPENDED, Action.SUSPEND),
        ("paused", SubscriptionPhase.SUSPENDED, Action.SUSPEND),
        ("canceled", SubscriptionPhase.ENDED, Action.DEPROVISION),
        ("incomplete_expired", SubscriptionPhase.ENDED, Action.DEPROVISION),
    ],
)
def test_subscription_statuses_map_to_phases(
    settings: BillingSettings, status: str, phase: SubscriptionPhase, action: Action | None
) -> None:
    intent = _intent(settings, _subscription("customer.subscription.updated", status=status))
    assert intent.snapshot is not None and intent.snapshot.phase is phase
    assert intent.action is action


def test_a_deleted_subscription_asks_to_deprovision(settings: BillingSettings) -> None:
    intent = _intent(settings, _subscription("customer.subscription.deleted", status="canceled"))
    assert intent.action is Action.DEPROVISION
    assert intent.as_of[1] == 3


def test_a_failed_payment_schedules_suspension_after_the_grace(settings: BillingSettings) -> None:
    document = invoice_event(
        "invoice.payment_failed",
        event_id="evt_1Failed",
        created=NOW,
        subscription_id="sub_1Acme",
        invoice_id="in_1",
        plan=PlanName.PRO,
    )
    intent = _intent(settings, document)
    assert intent.action is Action.SCHEDULE_SUSPENSION
    assert intent.payment is not None and intent.payment.failed
    assert intent.payment.suspend_at == RECEIVED + timedelta(days=3)


def test_a_paid_invoice_of_the_older_api_shape_resumes(settings: BillingSettings) -> None:
    document = invoice_event(
        "invoice.paid",
        event_id="evt_1Paid",
        created=NOW,
        subscription_id="sub_1Acme",
        invoice_id="in_1",
        plan=PlanName.PRO,
    )
    invoice = document["data"]["object"]
    del invoice["parent"]
    invoice["subscription"] = "sub_1Acme"
    intent = _intent(settings, document)
    assert intent.action is Action.RESUME
    assert intent.subscription_id == "sub_1Acme"
    assert intent.payment is not None and intent.payment.suspend_at is None


def test_an_invoice_without_subscription_is_ignored(settings: BillingSettings) -> None:
    document = invoice_event(
        "invoice.paid",
        event_id="evt_1Paid",
        created=NOW,
        subscription_id="sub_1Acme",
        invoice_id="in_1",
        plan=PlanName.PRO,
    )
    document["data"]["object"]["parent"] = None
    intent = IntentMapper(settings).intent_for(_event(document))
    assert intent == Ignored("invoice in_1 belongs to no subscription")


def test_a_subscription_checkout_provisions(settings: BillingSettings) -> None:
    document = checkout_completed_event(
        event_id="evt_1Checkout",
        created=NOW,
        subscription_id="sub_1Acme",
        tenant_id="acme",
        plan=PlanName.STARTER,
    )
    intent = _intent(settings, document)
    assert intent.action is Action.PROVISION
    assert intent.snapshot is not None and intent.snapshot.plan is PlanName.STARTER
    assert intent.as_of[1] == 0


def test_a_one_off_payment_checkout_is_ignored(settings: BillingSettings) -> None:
    document = checkout_completed_event(
        event_id="evt_1Checkout",
        created=NOW,
        subscription_id="sub_1Acme",
        tenant_id="acme",
        plan=PlanName.STARTER,
    )
    document["data"]["object"]["mode"] = "payment"
    intent = IntentMapper(settings).intent_for(_event(document))
    assert intent == Ignored("checkout session in 'payment' mode starts no subscription")


def test_a_checkout_without_price_metadata_is_refused(settings: BillingSettings) -> None:
    document = checkout_completed_event(
        event_id="evt_1Checkout",
        created=NOW,
        subscription_id="sub_1Acme",
        tenant_id="acme",
        plan=PlanName.STARTER,
    )
    del document["data"]["object"]["metadata"]["price"]
    with pytest.raises(MalformedEvent, match=r"data\.object\.metadata\.price: required"):
        IntentMapper(settings).intent_for(_event(document))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"region": "eu-west-1"}, r"data\.object\.metadata\.tenant_id: Field required"),
        ({"tenant_id": "Acme Corp", "region": "eu-west-1"}, r"tenant id 'Acme Corp' is not"),
        ({"tenant_id": "acme"}, r"data\.object\.metadata\.region: Field required"),
        ({"tenant_id": "acme", "region": "mars-1"}, "'mars-1' is not a supported region"),
        (
            {"tenant_id": "acme", "region": "us-east-1", "residency": "eu"},
            "'us-east-1' is outside residency 'eu'; allowed: eu-west-1",
        ),
    ],
)
def test_bad_tenant_metadata_names_the_field(
    settings: BillingSettings, metadata: dict[str, str], message: str
) -> None:
    document = _subscription()
    document["data"]["object"]["metadata"] = metadata
    with pytest.raises(MalformedEvent, match=message):
        IntentMapper(settings).intent_for(_event(document))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body is a JSON list, not an event object"),
        (b'{"type": "invoice.paid"}', "id: Field required"),
        (
            b'{"id": "evt_1", "type": "x", "created": -1, "data": {"object": {}}}',
            "created: Input should be greater than or equal to 0",
        ),
        (
            b'{"id": "evt_1", "type": "x", "created": 99999999999999, "data": {"object": {}}}',
            "created: Input should be less than or equal to 32503680000",
        ),
        (b'{"id": "nope", "type": "x", "created": 1, "data": {"object": {}}}', "id: String should"),
        (
            b'{"id": "evt_1", "type": "x", "created": 1, "data": {}}',
            r"data\.object: Field required",
        ),
    ],
)
def test_malformed_envelopes_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_event(body, RECEIVED)


def test_a_subscription_missing_its_items_is_refused(settings: BillingSettings) -> None:
    document = _subscription()
    del document["data"]["object"]["items"]
    with pytest.raises(MalformedEvent, match=r"data\.object\.items: Field required"):
        IntentMapper(settings).intent_for(_event(document))


def test_the_webhook_answers_400_for_a_bad_payload_and_stores_nothing(
    sender: Sender, memory_store: InMemoryBillingStore
) -> None:
    document = _subscription()
    document["data"]["object"]["status"] = "frozen"
    response = sender.post(document)
    assert response.status_code == 400
    assert response.json()["error"] == "payload"
    assert "data.object.status: Input should be 'incomplete'" in response.json()["detail"]
    assert memory_store.events == {}


def test_unknown_event_types_are_acknowledged_and_recorded_as_ignored(
    sender: Sender, memory_store: InMemoryBillingStore
) -> None:
    document = {
        "id": "evt_1Customer",
        "object": "event",
        "type": "customer.created",
        "created": NOW,
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }
    response = sender.post(document)
    assert response.status_code == 200
    assert response.json() == {
        "id": "evt_1Customer",
        "type": "customer.created",
        "status": "recorded",
    }
    recorded = memory_store.events["evt_1Customer"]
    assert recorded.outcome is Outcome.IGNORED
    assert recorded.reason == "event type 'customer.created' does not affect tenants"
    assert memory_store.decisions == []


def test_an_oversized_body_is_refused_unread(sender: Sender) -> None:
    body = b"{" + b" " * (300 * 1024) + b"}"
    response = sender.client.post("/hooks/billing", content=body, headers=sender.headers(body))
    assert response.status_code == 413
    assert "exceeds" in response.json()["detail"]


def test_health_readiness_and_openapi(sender: Sender) -> None:
    assert sender.client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert sender.client.get("/readyz").json() == {"status": "ok", "detail": None}
    paths = sender.client.get("/openapi.json").json()["paths"]
    assert {"/hooks/billing", "/healthz", "/readyz"} <= set(paths)


def test_settings_refuse_blank_secrets_and_empty_price_maps() -> None:
    with pytest.raises(ValueError, match="webhook secrets must not be blank"):
        BillingSettings(webhook_secrets=("",))
    with pytest.raises(ValueError, match="map at least one price"):
        BillingSettings(webhook_secrets=("whsec_x",), price_plans={})


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", '["whsec_new", "whsec_old"]')
    monkeypatch.setenv("TENANTS_BILLING_SUSPENSION_GRACE", "P7D")
    monkeypatch.setenv("TENANTS_BILLING_PRICE_PLANS", '{"price_1Gold": "enterprise"}')
    settings = BillingSettings()
    assert settings.webhook_secrets == ("whsec_new", "whsec_old")
    assert settings.suspension_grace == timedelta(days=7)
    assert settings.price_plans["price_1Gold"] is PlanName.ENTERPRISE
