"""A tenant's plan change and retirement through the API: with a billing API key the
subscription is changed (or cancelled, or a free tenant's checkout started) through the
`stripe` library, here against a stand-in of the billing API on 127.0.0.1, and the tenant
follows the signed event that comes back; without a key, the answer says where to go."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from components.plans import PlanName
from control_plane.accounts.roles import TenantRole
from control_plane.billing.reconcile import BillingReconciler, ReconcileStep, StepOutcome
from control_plane.billing.samples import checkout_completed_event, encode, subscription_event
from control_plane.billing.signature import signature_header
from control_plane.billing.subscriptions import SubscriptionStatus, subscriptions
from control_plane.registry.billing_models import PlanClaim
from control_plane.web.checkout import CheckoutSettings
from tests.web.web_helpers import PASSWORD, SECRET, SmtpSink, World, auth, make_world

API = "/api/v1"
SUB = "sub_change1"


@dataclass
class BillingApi:
    """The billing system's subscriptions as a stand-in sees them, and what it was asked."""

    url: str = ""
    plans: dict[str, PlanName] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)


def _handler(state: BillingApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, form: dict[str, list[str]]) -> None:
            state.calls.append((self.command, self.path, form))
            if self.path == "/v1/checkout/sessions":
                url = "https://checkout.stripe.com/c/pay/cs_test_b1"
                self._send(200, {"id": "cs_test_b1", "object": "checkout.session", "url": url})
                return
            sub = self.path.removeprefix("/v1/subscriptions/")
            if sub not in state.plans:
                self._send(
                    404,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": f"No such subscription: '{sub}'",
                        }
                    },
                )
                return
            if self.command == "POST":
                price = form["items[0][price]"][0]
                state.plans[sub] = PlanName(
                    price.removeprefix("price_1").removesuffix("Monthly").lower()
                )
            obj = subscription_event(
                "customer.subscription.updated",
                event_id="evt_x",
                created=0,
                subscription_id=sub,
                tenant_id="ignored",
                plan=state.plans[sub],
                status="canceled" if self.command == "DELETE" else "active",
            )["data"]["object"]
            self._send(200, obj)

        def _send(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _form(self) -> dict[str, list[str]]:
            length = int(self.headers.get("Content-Length") or 0)
            return parse_qs(self.rfile.read(length).decode())

        def do_GET(self) -> None:
            self._answer({})

        def do_POST(self) -> None:
            self._answer(self._form())

        def do_DELETE(self) -> None:
            self._answer(self._form())

        def log_message(self, *_args: object) -> None:
            return None

    return Handler


@pytest.fixture
def billing_api() -> Iterator[BillingApi]:
    state = BillingApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def _subscribed(world: World, owner: str, tenant_id: str, sub: str) -> str:
    """A starter tenant created through the billing webhook; the owner's token."""
    world.user(owner)
    token = world.token(owner)
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": tenant_id, "plan": "starter", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text
    world.send_checkout(tenant_id, PlanName.STARTER, event_id=f"evt_{sub}", sub=sub)
    return token


def _send_subscription(
    world: World, event_type: str, tenant_id: str, plan: PlanName, n: int
) -> None:
    event = subscription_event(
        event_type,
        event_id=f"evt_sub_{n}",
        created=int(world.clock.now.timestamp()) + n,
        subscription_id=SUB,
        tenant_id=tenant_id,
        plan=plan,
        status="canceled" if event_type.endswith("deleted") else "active",
    )
    body = encode(event)
    stamp = int(datetime.now(UTC).timestamp())
    answer = world.client.post(
        "/hooks/billing",
        content=body,
        headers={"Stripe-Signature": signature_header(body, (SECRET,), stamp)},
    )
    assert answer.status_code == 200, answer.text
    BillingReconciler(world.database, world.context.tenants).reconcile()
    world.accounts.sweep()


@pytest.fixture
def keyed(tmp_path: Path, sink: SmtpSink, billing_api: BillingApi) -> Iterator[World]:
    world = make_world(
        tmp_path,
        sink,
        checkout=CheckoutSettings(stripe_api_key="sk_test_local", api_base=billing_api.url),
        prices={"price_1ProMonthly": "pro"},
    )
    with world.client:
        yield world
    world.database.dispose()


def test_a_plan_change_goes_through_the_subscription(keyed: World, billing_api: BillingApi) -> None:
    world = keyed
    token = _subscribed(world, "owner@example.com", "shop-co", SUB)
    billing_api.plans[SUB] = PlanName.STARTER
    invited = world.accounts.invite(
        world.accounts.principal_for_token(token),
        "shop-co",
        "money@example.com",
        TenantRole.BILLING,
    )
    assert invited.role == "billing"
    world.accounts.accept_invitation(
        world.sink.code("money@example.com", "invited"), password=PASSWORD, display_name="M"
    )
    money = world.token("money@example.com")

    asked = world.client.post(
        f"{API}/tenants/shop-co/plan", json={"plan": "pro"}, headers=auth(money)
    )

    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "awaiting-billing"
    assert "customer.subscription.updated" in asked.json()["message"]
    method, path, form = billing_api.calls[-1]
    assert (method, path) == ("POST", f"/v1/subscriptions/{SUB}")
    assert form["items[0][id]"] == [f"si_{SUB.removeprefix('sub_')}"]
    assert form["items[0][price]"] == ["price_1ProMonthly"]
    assert form["proration_behavior"] == ["create_prorations"]
    # The tenant follows the billing system's event, not the request.
    assert world.context.tenants.show("shop-co").plan == "starter"
    _send_subscription(world, "customer.subscription.updated", "shop-co", PlanName.PRO, 1)
    assert world.context.tenants.show("shop-co").plan == "pro"
    log = world.client.get(f"{API}/tenants/shop-co/operations", headers=auth(money)).json()
    request = next(op for op in log["items"] if op["action"] == "plan-change-request")
    assert request["actor"] == "user:money@example.com"

    # Back to starter with more workers than starter allows: refused before billing is asked.
    spec = world.client.get(f"{API}/tenants/shop-co/spec", headers=auth(token))
    grown = world.client.patch(
        f"{API}/tenants/shop-co/spec",
        content='{"compute": {"max_size": 8}}',
        headers={
            **auth(token),
            "If-Match": spec.headers["etag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert grown.status_code == 202, grown.text
    calls = len(billing_api.calls)
    over = world.client.post(
        f"{API}/tenants/shop-co/plan", json={"plan": "starter"}, headers=auth(token)
    )
    assert over.status_code == 422
    assert "compute.max_size" in over.json()["detail"] and "starter" in over.json()["detail"]
    assert len(billing_api.calls) == calls
    # A plan without a price id cannot be billed: the billing system is not asked.
    enterprise = world.client.post(
        f"{API}/tenants/shop-co/plan", json={"plan": "enterprise"}, headers=auth(token)
    )
    assert enterprise.status_code == 503 and "no price id" in enterprise.json()["detail"]
    assert len(billing_api.calls) == calls
    # A plan the catalog does not know is refused by the schema.
    unknown = world.client.post(
        f"{API}/tenants/shop-co/plan", json={"plan": "gold"}, headers=auth(token)
    )
    assert unknown.status_code == 422


def test_retiring_a_subscribed_tenant_cancels_its_subscription(
    keyed: World, billing_api: BillingApi
) -> None:
    world = keyed
    token = _subscribed(world, "owner@example.com", "bye-co", SUB)
    billing_api.plans[SUB] = PlanName.STARTER

    retire = world.client.delete(f"{API}/tenants/bye-co", headers=auth(token))

    assert retire.status_code == 202, retire.text
    assert retire.json()["status"] == "awaiting-billing"
    assert billing_api.calls[-1][:2] == ("DELETE", f"/v1/subscriptions/{SUB}")
    assert world.context.tenants.show("bye-co").state != "deprovisioning"
    _send_subscription(world, "customer.subscription.deleted", "bye-co", PlanName.STARTER, 2)
    assert world.context.tenants.show("bye-co").state == "deprovisioning"
    # Retirement ended the owner's membership: the tenant is gone from its view.
    assert world.client.get(f"{API}/tenants/bye-co", headers=auth(token)).status_code == 404
    assert world.accounts.members("bye-co") == []
    log = world.context.tenants.history("bye-co")
    assert any(op.action == "retire-request" and op.actor == "user:owner@example.com" for op in log)


def test_the_billing_system_refusing_is_a_clear_503(keyed: World, billing_api: BillingApi) -> None:
    world = keyed
    token = _subscribed(world, "owner@example.com", "gone-co", "sub_unknown")

    answer = world.client.post(
        f"{API}/tenants/gone-co/plan", json={"plan": "pro"}, headers=auth(token)
    )

    assert answer.status_code == 503
    assert "the billing system refused the plan change" in answer.json()["detail"]
    assert "No such subscription" in answer.json()["detail"]
    log = world.client.get(f"{API}/tenants/gone-co/operations", headers=auth(token)).json()
    assert all(op["action"] != "plan-change-request" for op in log["items"])


def test_without_a_key_or_a_subscription_the_answer_says_where_to_go(world: World) -> None:
    token = _subscribed(world, "owner@example.com", "nokey-co", SUB)

    plan = world.client.post(
        f"{API}/tenants/nokey-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    retire = world.client.delete(f"{API}/tenants/nokey-co", headers=auth(token))

    assert plan.status_code == 409
    assert "TENANTS_CHECKOUT_STRIPE_API_KEY" in plan.json()["detail"]
    assert f"change subscription {SUB} to plan 'pro'" in plan.json()["detail"]
    assert "customer.subscription.updated" in plan.json()["detail"]
    assert retire.status_code == 409
    assert "customer.subscription.deleted" in retire.json()["detail"]
    assert world.context.tenants.show("nokey-co").state == "pending"

    free = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "free-co", "plan": "free", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert free.status_code == 202
    # A free tenant's upgrade waits for the billing system's event naming its claim.
    upgrade = world.client.post(
        f"{API}/tenants/free-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert upgrade.status_code == 202, upgrade.text
    assert upgrade.json()["status"] == "awaiting-billing"
    assert upgrade.json()["checkout_url"] is None
    assert "customer.subscription.created" in upgrade.json()["message"]
    assert "TENANTS_CHECKOUT_STRIPE_API_KEY" in upgrade.json()["message"]
    claim = _claim_in(upgrade.json()["message"])
    steps = _deliver(
        world, _created("evt_nokey_up", "sub_nokey_up", "free-co", PlanName.PRO, claim=claim)
    )
    assert [(s.request, s.outcome) for s in steps] == [("upgrade", StepOutcome.QUEUED)]
    assert world.context.tenants.show("free-co").plan == "pro"
    assert _plan_change_actor(world, "free-co", PlanName.PRO) == "user:owner@example.com"


CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_b1"


def _claim_in(message: str) -> str:
    found = re.search(r"upgrade_claim=(upg_[A-Za-z0-9_-]+)", message)
    assert found, message
    return found.group(1)


def _created(
    event_id: str, sub: str, tenant_id: str, plan: PlanName, *, claim: str | None, n: int = 0
) -> dict[str, Any]:
    return subscription_event(
        "customer.subscription.created",
        event_id=event_id,
        created=int(datetime.now(UTC).timestamp()) + n,
        subscription_id=sub,
        tenant_id=tenant_id,
        plan=plan,
        upgrade_claim=claim,
    )


def _deliver(world: World, event: dict[str, Any]) -> list[ReconcileStep]:
    """Post the signed event to the webhook, then one reconcile pass at the world's time."""
    body = encode(event)
    stamp = int(datetime.now(UTC).timestamp())
    answer = world.client.post(
        "/hooks/billing",
        content=body,
        headers={"Stripe-Signature": signature_header(body, (SECRET,), stamp)},
    )
    assert answer.status_code == 200, answer.text
    reconciler = BillingReconciler(
        world.database, world.context.tenants, clock=world.clock.now.timestamp
    )
    return reconciler.reconcile()


def _plan_change_actor(world: World, tenant_id: str, plan: PlanName) -> str:
    return next(
        op.actor
        for op in world.context.tenants.history(tenant_id)
        if op.action == "update" and f"change plan to {plan.value}" in (op.message or "")
    )


def _free(world: World, owner: str, tenant_id: str) -> str:
    """A free tenant its owner created through the API; the owner's token."""
    world.user(owner)
    token = world.token(owner)
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": tenant_id, "plan": "free", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text
    return token


def _claims(world: World, tenant_id: str) -> list[PlanClaim]:
    with world.database.transaction() as session:
        rows = session.query(PlanClaim).filter_by(tenant_id=tenant_id).all()
        session.expunge_all()
        return rows


def test_a_free_tenant_upgrades_through_a_checkout(keyed: World, billing_api: BillingApi) -> None:
    world = keyed
    token = _free(world, "owner@example.com", "grow-co")
    user_id = world.accounts.principal_for_token(token).user_id

    asked = world.client.post(
        f"{API}/tenants/grow-co/plan", json={"plan": "pro"}, headers=auth(token)
    )

    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "awaiting-billing"
    assert asked.json()["checkout_url"] == CHECKOUT_URL
    method, path, form = billing_api.calls[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert form["mode"] == ["subscription"]
    assert form["line_items[0][price]"] == ["price_1ProMonthly"]
    assert form["customer_email"] == ["owner@example.com"]
    claim = form["metadata[upgrade_claim]"][0]
    assert claim.startswith("upg_")
    for prefix in ("metadata", "subscription_data[metadata]"):
        assert form[f"{prefix}[tenant_id]"] == ["grow-co"]
        assert form[f"{prefix}[region]"] == ["eu-west-1"]
        assert form[f"{prefix}[user_id]"] == [str(user_id)]
        assert form[f"{prefix}[upgrade_claim]"] == [claim]
    assert form["metadata[price]"] == ["price_1ProMonthly"]
    (row,) = _claims(world, "grow-co")
    assert (row.id, row.plan, row.actor, row.user_id) == (
        claim,
        "pro",
        "user:owner@example.com",
        user_id,
    )
    assert row.checkout_session_id == "cs_test_b1" and row.consumed_at is None
    assert row.expires_at - row.created_at == timedelta(hours=24)
    # Nothing changes before the billing system confirms the subscription.
    assert world.context.tenants.show("grow-co").plan == "free"
    assert world.context.billing.subscription_of("grow-co") is None

    # A second request while the claim is open is refused; billing is not asked.
    calls = len(billing_api.calls)
    again = world.client.post(
        f"{API}/tenants/grow-co/plan", json={"plan": "starter"}, headers=auth(token)
    )
    assert again.status_code == 409
    assert "already waits for billing to move it to plan 'pro'" in again.json()["detail"]
    assert len(billing_api.calls) == calls

    completed = checkout_completed_event(
        event_id="evt_grow_done",
        created=int(world.clock.now.timestamp()),
        subscription_id="sub_grow",
        tenant_id="grow-co",
        plan=PlanName.PRO,
        customer="cus_Grow",
        upgrade_claim=claim,
    )
    steps = _deliver(world, completed)

    assert [(s.request, s.outcome) for s in steps] == [("upgrade", StepOutcome.QUEUED)]
    view = world.context.tenants.show("grow-co")
    assert view.plan == "pro"
    owner = world.context.billing.subscription_of("grow-co")
    assert owner is not None
    assert (owner.subscription_id, owner.customer_id, owner.bound_by, owner.actor) == (
        "sub_grow",
        "cus_Grow",
        "upgraded",
        "user:owner@example.com",
    )
    assert _plan_change_actor(world, "grow-co", PlanName.PRO) == "user:owner@example.com"
    log = world.client.get(f"{API}/tenants/grow-co/operations", headers=auth(token)).json()
    assert any(op["action"] == "plan-upgrade-request" for op in log["items"])
    (row,) = _claims(world, "grow-co")
    assert row.consumed_at is not None and row.subscription_id == "sub_grow"

    # The same event again, and the subscription's own created event: nothing more happens.
    operations = len(world.context.tenants.history("grow-co"))
    assert _deliver(world, completed) == []
    created = _created("evt_grow_created", "sub_grow", "grow-co", PlanName.PRO, claim=claim, n=1)
    assert _deliver(world, created) == []
    assert world.context.tenants.show("grow-co").spec_version == view.spec_version
    assert len(world.context.tenants.history("grow-co")) == operations

    # From now on the plan is the subscription's: a change goes through it.
    billing_api.plans["sub_grow"] = PlanName.PRO
    down = world.client.post(
        f"{API}/tenants/grow-co/plan", json={"plan": "starter"}, headers=auth(token)
    )
    assert down.status_code == 202, down.text
    assert billing_api.calls[-1][:2] == ("POST", "/v1/subscriptions/sub_grow")


def test_a_refused_checkout_leaves_no_claim(keyed: World, billing_api: BillingApi) -> None:
    world = keyed
    token = _free(world, "owner@example.com", "try-co")

    refused = world.client.post(
        f"{API}/tenants/try-co/plan", json={"plan": "enterprise"}, headers=auth(token)
    )

    assert refused.status_code == 503 and "no price id" in refused.json()["detail"]
    assert _claims(world, "try-co") == []
    retried = world.client.post(
        f"{API}/tenants/try-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert retried.status_code == 202, retried.text
    assert retried.json()["checkout_url"] == CHECKOUT_URL


def test_only_the_claim_lets_a_subscription_take_a_free_tenant(world: World) -> None:
    token = _free(world, "owner@example.com", "free-a")
    _free(world, "other@example.com", "free-b")
    asked = world.client.post(
        f"{API}/tenants/free-a/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert asked.status_code == 202, asked.text
    claim = _claim_in(asked.json()["message"])
    forged = "upg_" + "A" * 32
    before = {t: world.context.tenants.show(t).spec_version for t in ("free-a", "free-b")}

    attempts = [
        ("sub_nomark", "free-a", PlanName.PRO, None),
        ("sub_forged", "free-a", PlanName.PRO, forged),
        ("sub_elsewhere", "free-b", PlanName.PRO, claim),
        ("sub_otherplan", "free-a", PlanName.STARTER, claim),
    ]
    for n, (sub, tenant_id, plan, marker) in enumerate(attempts):
        steps = _deliver(world, _created(f"evt_{sub}", sub, tenant_id, plan, claim=marker, n=n))
        assert all(s.outcome is StepOutcome.REFUSED for s in steps), steps
    # The first is refused by the reconciler (the tenant is not billing's), the others
    # already by the webhook (the first holds the tenant id) or by the reconciler.
    refused = {v.subscription_id: v for v in subscriptions(world.database)}
    for sub, *_ in attempts:
        assert refused[sub].status == SubscriptionStatus.REFUSED, sub
    assert "was not created by billing" in (refused["sub_nomark"].last_error or "")
    assert "belongs to subscription sub_nomark" in (refused["sub_forged"].last_error or "")
    assert "was not created by billing" in (refused["sub_elsewhere"].last_error or "")

    for tenant_id, version in before.items():
        view = world.context.tenants.show(tenant_id)
        assert (view.plan, view.spec_version) == ("free", version)
        assert world.context.billing.subscription_of(tenant_id) is None
    (row,) = _claims(world, "free-a")
    assert row.consumed_at is None
    # The claim itself still works: refusals consumed nothing.
    steps = _deliver(world, _created("evt_ok", "sub_ok", "free-a", PlanName.PRO, claim=claim, n=9))
    assert [(s.request, s.outcome) for s in steps] == [("upgrade", StepOutcome.QUEUED)]
    # Once used, the claim takes nothing more: another subscription naming it is refused.
    _deliver(world, _created("evt_late", "sub_late", "free-a", PlanName.PRO, claim=claim, n=10))
    (late,) = [v for v in subscriptions(world.database) if v.subscription_id == "sub_late"]
    assert late.status == SubscriptionStatus.REFUSED
    assert "belongs to subscription sub_ok" in (late.last_error or "")
    owner = world.context.billing.subscription_of("free-a")
    assert owner is not None and owner.subscription_id == "sub_ok"


def test_an_expired_claim_is_ignored(world: World) -> None:
    token = _free(world, "owner@example.com", "slow-co")
    asked = world.client.post(
        f"{API}/tenants/slow-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    stale = _claim_in(asked.json()["message"])

    world.clock.advance(timedelta(hours=24, seconds=1))
    steps = _deliver(
        world, _created("evt_stale", "sub_stale", "slow-co", PlanName.PRO, claim=stale)
    )

    assert [(s.request, s.outcome) for s in steps] == [("check", StepOutcome.REFUSED)]
    assert world.context.tenants.show("slow-co").plan == "free"
    # An expired claim no longer blocks a new one, which works.
    token = world.token("owner@example.com")
    again = world.client.post(
        f"{API}/tenants/slow-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert again.status_code == 202, again.text
    fresh = _claim_in(again.json()["message"])
    assert fresh != stale
    steps = _deliver(
        world, _created("evt_fresh", "sub_fresh", "slow-co", PlanName.PRO, claim=fresh, n=1)
    )
    assert ("upgrade", StepOutcome.QUEUED) in [(s.request, s.outcome) for s in steps]
    assert world.context.tenants.show("slow-co").plan == "pro"


def test_a_move_to_free_cancels_the_subscription_and_keeps_the_tenant(
    keyed: World, billing_api: BillingApi
) -> None:
    world = keyed
    token = _subscribed(world, "owner@example.com", "down-co", SUB)
    billing_api.plans[SUB] = PlanName.STARTER

    asked = world.client.post(
        f"{API}/tenants/down-co/plan", json={"plan": "free"}, headers=auth(token)
    )

    assert asked.status_code == 202, asked.text
    assert "free plan" in asked.json()["message"]
    assert billing_api.calls[-1][:2] == ("DELETE", f"/v1/subscriptions/{SUB}")
    assert world.context.tenants.show("down-co").plan == "starter"
    busy = world.client.post(
        f"{API}/tenants/down-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert busy.status_code == 409 and "plan 'free'" in busy.json()["detail"]
    retire = world.client.delete(f"{API}/tenants/down-co", headers=auth(token))
    assert retire.status_code == 409 and "plan 'free'" in retire.json()["detail"]
    assert billing_api.calls[-1][:2] == ("DELETE", f"/v1/subscriptions/{SUB}")
    calls = len(billing_api.calls)

    _send_subscription(world, "customer.subscription.deleted", "down-co", PlanName.STARTER, 3)

    view = world.context.tenants.show("down-co")
    assert (view.plan, view.state) == ("free", "pending")
    assert world.context.billing.subscription_of("down-co") is None
    assert _plan_change_actor(world, "down-co", PlanName.FREE) == "user:owner@example.com"
    assert world.client.get(f"{API}/tenants/down-co", headers=auth(token)).status_code == 200
    # The ended subscription asks nothing more of the tenant it let go.
    assert BillingReconciler(world.database, world.context.tenants).reconcile() == []
    (ended,) = [v for v in subscriptions(world.database) if v.subscription_id == SUB]
    assert ended.status == SubscriptionStatus.CONVERGED
    # Free again, the tenant can upgrade once more.
    assert len(billing_api.calls) == calls
    up = world.client.post(f"{API}/tenants/down-co/plan", json={"plan": "pro"}, headers=auth(token))
    assert up.status_code == 202 and up.json()["checkout_url"] == CHECKOUT_URL
    assert billing_api.calls[-1][:2] == ("POST", "/v1/checkout/sessions")
