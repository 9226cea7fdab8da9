"""Hostile and malformed requests: each gets a problem document naming what is wrong,
never a traceback, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.web.limits import RequestLimits
from tests.web.web_helpers import PASSWORD, SmtpSink, World, auth, make_world

API = "/api/v1"


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, object] = response.json()
    assert document["status"] == status and document["detail"]
    return document


def test_malformed_json_is_a_problem_naming_the_body(world: World) -> None:
    response = world.client.post(
        f"{API}/account/signup",
        content=b'{"email": "a@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )
    document = _problem(response, 422)
    assert "JSON" in str(document["detail"])


def test_unknown_fields_and_oversized_values_are_named(world: World) -> None:
    response = world.client.post(
        f"{API}/account/signup",
        json={"email": "a@example.com", "password": PASSWORD, "display_name": "A", "admin": True},
    )
    assert "admin" in str(_problem(response, 422)["detail"])
    long_name = world.client.post(
        f"{API}/account/signup",
        json={"email": "a@example.com", "password": PASSWORD, "display_name": "A" * 129},
    )
    assert "display_name" in str(_problem(long_name, 422)["detail"])
    bad_email = world.client.post(
        f"{API}/account/signup",
        json={"email": "not-an-address", "password": PASSWORD, "display_name": "A"},
    )
    assert "email" in str(_problem(bad_email, 422)["detail"])
    weak = world.client.post(
        f"{API}/account/signup",
        json={"email": "a@example.com", "password": "short", "display_name": "A"},
    )
    assert "password: String should have at least 12 characters" in str(
        _problem(weak, 422)["detail"]
    )
    guessable = world.client.post(
        f"{API}/account/signup",
        json={"email": "a@example.com", "password": "aaaaaaaaaaaa", "display_name": "A"},
    )
    assert "too easy to guess" in str(_problem(guessable, 422)["detail"])
    assert world.sink.to("a@example.com") == []


def test_oversized_bodies_are_refused_unread(tmp_path: Path, sink: SmtpSink) -> None:
    world = make_world(tmp_path, sink, limits=RequestLimits(max_body_bytes=1024))
    with world.client:
        declared = world.client.post(
            f"{API}/account/signup",
            content=b"{" + b" " * 2048 + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert "1024 bytes" in str(_problem(declared, 413)["detail"])

        def chunks() -> object:
            yield b'{"email": "'
            yield b"a" * 4096

        streamed = world.client.post(
            f"{API}/account/signup", content=chunks(), headers={"Content-Type": "application/json"}
        )
        _problem(streamed, 413)
        hook = world.client.post("/hooks/billing", content=b"x" * 2048)
        _problem(hook, 413)
    world.database.dispose()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer tnt_forged0000000000000000000000000000000000",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "tnt_without_scheme",
        "Bearer " + "x" * 5000,
    ],
)
def test_forged_or_malformed_credentials_are_401(world: World, authorization: str) -> None:
    response = world.client.get(f"{API}/me", headers={"Authorization": authorization})
    _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_forged_session_cookie_is_401(world: World) -> None:
    world.client.cookies.set("tenants_session", "tss_forged")
    _problem(world.client.get(f"{API}/me"), 401)


def test_malformed_tenant_ids_in_paths_are_422_before_any_lookup(world: World) -> None:
    world.user("h@example.com")
    token = world.token("h@example.com")
    for tenant in ("UPPER", "a" * 40, "..", "x%00y", "ok-but-ümlaut"):
        response = world.client.get(f"{API}/tenants/{tenant}", headers=auth(token))
        assert response.status_code in (404, 422), (tenant, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_patch_that_is_not_an_object_is_refused(world: World) -> None:
    world.user("p@example.com")
    token = world.token("p@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "p-co", "region": "eu-west-1"}, headers=auth(token)
    )
    for body in (b"[1, 2]", b"null", b'"plan"', b"{bad json"):
        response = world.client.patch(
            f"{API}/tenants/p-co/spec",
            content=body,
            headers={
                **auth(token),
                "Content-Type": "application/merge-patch+json",
                "If-Match": '"p-co-v1"',
            },
        )
        _problem(response, 422)
    assert world.context.tenants.show("p-co").spec_version == 1


def test_a_changed_tenant_id_or_network_is_refused_with_the_reason(world: World) -> None:
    world.user("n@example.com")
    token = world.token("n@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "n-co", "region": "eu-west-1"}, headers=auth(token)
    )
    headers = {
        **auth(token),
        "Content-Type": "application/merge-patch+json",
        "If-Match": '"n-co-v1"',
    }
    for body, word in (
        (b'{"tenant_id": "other"}', "never changes"),
        (b'{"network": {"cidr": "10.99.0.0/20"}}', "network.cidr"),
    ):
        response = world.client.patch(f"{API}/tenants/n-co/spec", content=body, headers=headers)
        assert word in str(_problem(response, 422)["detail"])


def test_bad_tenant_requests_write_nothing(world: World) -> None:
    world.user("t@example.com")
    token = world.token("t@example.com")
    for body, word in (
        ({"tenant_id": "t-co", "region": "mars-1"}, "region"),
        ({"tenant_id": "t-co", "region": "eu-west-1", "plan": "platinum"}, "plan"),
        ({"tenant_id": "T_CO", "region": "eu-west-1"}, "tenant_id"),
    ):
        response = world.client.post(f"{API}/tenants", json=body, headers=auth(token))
        assert response.status_code == 422, response.text
        assert word in response.text
    listed = world.client.get(f"{API}/tenants", headers=auth(token)).json()
    assert listed["items"] == []
    assert world.accounts.claim("t-co") is None


def test_the_billing_hook_is_served_and_checks_signatures(world: World) -> None:
    response = world.client.post(
        "/hooks/billing", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 400 and response.json()["error"] == "signature"


def test_health_probes(world: World) -> None:
    assert world.client.get("/healthz").json()["status"] == "ok"
    assert world.client.get("/readyz").json()["status"] == "ok"


def test_unknown_routes_and_methods_are_problems(world: World) -> None:
    _problem(world.client.get(f"{API}/nothing-here"), 404)
    _problem(world.client.put(f"{API}/me"), 405)
