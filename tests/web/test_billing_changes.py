"""A subscribed tenant's plan change and retirement through the API: with a billing API key
the subscription is changed (or cancelled) through the `stripe` library, here against a
stand-in of the billing API on 127.0.0.1, and the tenant follows the signed event that
comes back; without a key, or without a subscription, the answer says where to go."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from components.plans import PlanName
from control_plane.accounts.roles import TenantRole
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.signature import signature_header
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
    upgrade = world.client.post(
        f"{API}/tenants/free-co/plan", json={"plan": "pro"}, headers=auth(token)
    )
    assert upgrade.status_code == 409
    assert "belongs to no billing subscription" in upgrade.json()["detail"]
