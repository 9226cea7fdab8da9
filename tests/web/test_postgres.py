"""The accounts and the API on PostgreSQL: row locks, the outer join of memberships with
tenants, the sweep's union, unique-key races and plan claims behave as on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.plans import PlanName
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.signature import signature_header
from tests.postgres import postgres_test_url
from tests.web.web_helpers import SECRET, SmtpSink, World, auth, make_world

pytestmark = pytest.mark.postgres
API = "/api/v1"


@pytest.fixture
def pg_world(tmp_path: Path, sink: SmtpSink) -> Iterator[World]:
    world = make_world(tmp_path, sink, database_url=postgres_test_url("web"))
    with world.client:
        yield world
    world.database.dispose()


def test_claims_race_to_one_winner_and_retirement_revokes(pg_world: World) -> None:
    world = pg_world
    tokens = []
    for number in range(4):
        email = f"racer{number}@example.com"
        world.user(email)
        tokens.append(world.token(email))

    def claim(token: str) -> int:
        response = world.client.post(
            f"{API}/tenants",
            json={"tenant_id": "race-co", "plan": "starter", "region": "eu-west-1"},
            headers=auth(token),
        )
        return response.status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(claim, tokens))
    assert codes == [202, 409, 409, 409]
    world.send_checkout("race-co", PlanName.STARTER, event_id="evt_pg1", sub="sub_pg1")
    winner = next(
        t for t in tokens if world.client.get(f"{API}/tenants/race-co", headers=auth(t)).is_success
    )
    bound = world.token(
        world.client.get(f"{API}/me", headers=auth(winner)).json()["user"]["email"],
        tenant_id="race-co",
    )
    world.context.tenants.delete("race-co", actor="billing")
    assert world.accounts.sweep() == ["race-co"]
    assert world.client.get(f"{API}/tenants/race-co", headers=auth(bound)).status_code == 401
    assert world.client.get(f"{API}/tenants/race-co", headers=auth(winner)).status_code == 404


def test_upgrade_claims_race_to_one_and_the_claimed_event_moves_the_tenant(
    pg_world: World,
) -> None:
    world = pg_world
    world.user("grow@example.com")
    token = world.token("grow@example.com")
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "pg-grow", "plan": "free", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text

    def ask(plan: str) -> tuple[int, str]:
        response = world.client.post(
            f"{API}/tenants/pg-grow/plan", json={"plan": plan}, headers=auth(token)
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, ["pro", "pro", "starter", "pro"]))
    assert sorted(code for code, _ in answers) == [202, 409, 409, 409]
    assert all("already waits for billing" in text for code, text in answers if code == 409)
    message = next(text for code, text in answers if code == 202)
    claim = re.search(r"upgrade_claim=(upg_[A-Za-z0-9_-]+)", message)
    assert claim is not None
    plan = PlanName.STARTER if "to plan starter" in message else PlanName.PRO
    event = subscription_event(
        "customer.subscription.created",
        event_id="evt_pg_grow",
        created=int(datetime.now(UTC).timestamp()),
        subscription_id="sub_pg_grow",
        tenant_id="pg-grow",
        plan=plan,
        upgrade_claim=claim.group(1),
    )
    body = encode(event)
    stamp = int(datetime.now(UTC).timestamp())
    delivered = world.client.post(
        "/hooks/billing",
        content=body,
        headers={"Stripe-Signature": signature_header(body, (SECRET,), stamp)},
    )
    assert delivered.status_code == 200, delivered.text
    BillingReconciler(world.database, world.context.tenants).reconcile()
    assert world.context.tenants.show("pg-grow").plan == plan.value
    owner = world.context.billing.subscription_of("pg-grow")
    assert owner is not None and owner.bound_by == "upgraded"
