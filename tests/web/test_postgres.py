"""The accounts and the API on PostgreSQL: row locks, the outer join of memberships with
tenants, the sweep's union and unique-key races behave as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from components.plans import PlanName
from tests.postgres import postgres_test_url
from tests.web.web_helpers import SmtpSink, World, auth, make_world

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
