"""Every portal route through FastAPI's TestClient: signed out, pages redirect to sign
in; a form post without the session's CSRF token (or, signed out, the form cookie's) is
refused; forms re-render with the field and the limit named."""

from __future__ import annotations

import re

import pytest

from tests.web.portal.page_helpers import form_token, page_routes, sign_in
from tests.web.web_helpers import PASSWORD, World

SAMPLE = {
    "tenant_id": "some-tenant",
    "user_id": "1",
    "token_id": "1",
    "number": "INV-202601-0001",
    "case_id": "1",
    "job_id": "1",
}


def test_signed_out_every_page_that_needs_a_session_redirects_to_sign_in(world: World) -> None:
    routes = [r for r in page_routes() if r.signed_in]
    assert routes, "no page needs a session?"
    for route in routes:
        response = world.client.request(route.method, route.url(SAMPLE), follow_redirects=False)
        assert response.status_code == 303, (route, response.text)
        expected = "/login?next=" if route.method == "GET" else "/login"
        assert response.headers["location"].startswith(expected), route


def test_public_pages_render_for_anyone(world: World) -> None:
    public = [r for r in page_routes() if not r.signed_in and r.method == "GET"]
    assert {r.path for r in public} >= {"/login", "/signup", "/verify", "/password-reset"}
    for route in public:
        response = world.client.get(route.url(SAMPLE))
        assert response.status_code == 200, route
        assert '<main id="main"' in response.text and 'class="skip-link"' in response.text


def test_form_posts_without_the_csrf_token_are_refused(world: World) -> None:
    world.user("csrf@example.com")
    posts = [r for r in page_routes() if r.signed_in and r.method == "POST"]
    assert posts
    for route in posts:
        token = sign_in(world, "csrf@example.com")
        for sent in ({}, {"csrf_token": "forged"}):
            response = world.client.post(route.url(SAMPLE), data=sent, follow_redirects=False)
            assert response.status_code == 403, (route, sent, response.text)
            assert "CSRF token" in response.text
        # The session is still good: the same post with the token gets past the check.
        response = world.client.post(
            route.url(SAMPLE), data={"csrf_token": token}, follow_redirects=False
        )
        assert response.status_code != 403 or "send its CSRF token" not in response.text, route


def test_signed_out_form_posts_must_come_from_the_sites_own_page(world: World) -> None:
    world.user("victim@example.com")
    posts = [r for r in page_routes() if r.method == "POST" and not r.signed_in]
    assert {r.path for r in posts} >= {"/login", "/signup", "/invitations/accept"}
    assert all(r.same_site_form for r in posts), [r for r in posts if not r.same_site_form]
    data = {"email": "victim@example.com", "password": PASSWORD, "code": "x", "next": "/"}
    for route in posts:
        world.client.cookies.clear()
        response = world.client.post(route.path, data=data, follow_redirects=False)
        assert response.status_code == 403, (route, response.text)
        token = form_token(world, "/login")
        forged = world.client.post(
            route.path, data={**data, "csrf_token": token[::-1]}, follow_redirects=False
        )
        assert forged.status_code == 403, route
    token = form_token(world, "/login")
    signed_in = world.client.post(
        "/login", data={**data, "csrf_token": token}, follow_redirects=False
    )
    assert signed_in.status_code == 303


def test_the_api_takes_the_csrf_token_from_the_header_only_for_json(world: World) -> None:
    world.user("api@example.com")
    token = sign_in(world, "api@example.com")
    body = {"name": "ci", "scope": "read"}
    assert world.client.post("/api/v1/tokens", json=body).status_code == 403
    sent = world.client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": token})
    assert sent.status_code == 201


def test_sign_in_page_signs_in_and_goes_back_where_asked(world: World) -> None:
    world.user("back@example.com")
    client = world.client
    token = form_token(world, "/login")
    refused = client.post(
        "/login",
        data={"email": "back@example.com", "password": "wrong one!", "csrf_token": token},
    )
    assert refused.status_code == 401
    assert 'value="back@example.com"' in refused.text
    signed_in = client.post(
        "/login",
        data={"email": "back@example.com", "password": PASSWORD, "next": "/", "csrf_token": token},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert "HttpOnly" in signed_in.headers["set-cookie"]
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_sends_the_browser_off_site(world: World, target: str) -> None:
    world.user("stay@example.com")
    token = form_token(world, "/login")
    response = world.client.post(
        "/login",
        data={
            "email": "stay@example.com",
            "password": PASSWORD,
            "next": target,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_sign_up_names_each_bad_field_and_keeps_the_input(world: World) -> None:
    token = form_token(world, "/signup")
    response = world.client.post(
        "/signup",
        data={
            "email": "not-an-address",
            "password": "short",
            "display_name": "Zoe",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    messages = re.findall(r"<li>(.*?)</li>", response.text)
    assert any(m.startswith("email: ") for m in messages)
    assert "password: String should have at least 12 characters" in messages
    assert 'value="Zoe"' in response.text and "short" not in response.text


def test_sign_up_then_confirm_with_the_mailed_code(world: World) -> None:
    client = world.client
    token = form_token(world, "/signup")
    created = client.post(
        "/signup",
        data={
            "email": "ivy@example.com",
            "password": PASSWORD,
            "display_name": "Ivy",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert created.headers["location"] == "/verify"
    taken = client.post(
        "/signup",
        data={
            "email": "IVY@example.com",
            "password": PASSWORD,
            "display_name": "I",
            "csrf_token": token,
        },
    )
    assert taken.status_code == 409 and "exists already" in taken.text
    code = world.sink.code("ivy@example.com", "confirm")
    mail = world.sink.to("ivy@example.com")[-1].get_payload(decode=True)
    assert isinstance(mail, bytes) and f"/verify?code={code}" in mail.decode()
    confirmed = client.post(
        "/verify", data={"code": code, "csrf_token": token}, follow_redirects=True
    )
    assert "ivy@example.com is confirmed" in confirmed.text
    again = client.post("/verify", data={"code": code, "csrf_token": token})
    assert again.status_code == 422 and "used already or expired" in again.text


def test_invitation_accepted_by_a_new_address_creates_the_account(world: World) -> None:
    world.user("owner@example.com")
    token = world.token("owner@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    created = world.client.post(
        "/api/v1/tenants",
        json={"tenant_id": "inv-co", "plan": "free", "region": "eu-west-1"},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    invited = world.client.post(
        "/api/v1/tenants/inv-co/invitations",
        json={"email": "new@example.com", "role": "viewer"},
        headers=headers,
    )
    assert invited.status_code == 201, invited.text
    code = world.sink.code("new@example.com", "invited")
    token = form_token(world, f"/invitations/accept?code={code}")
    missing = world.client.post("/invitations/accept", data={"code": code, "csrf_token": token})
    assert missing.status_code == 422 and "password, display_name: required" in missing.text
    joined = world.client.post(
        "/invitations/accept",
        data={"code": code, "password": PASSWORD, "display_name": "Newt", "csrf_token": token},
        follow_redirects=False,
    )
    assert joined.status_code == 303, joined.text
    sign_in(world, "new@example.com")
    assert "inv-co" in world.client.get("/").text


def test_unknown_pages_answer_with_a_page_and_the_api_with_a_problem(world: World) -> None:
    page = world.client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = world.client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_a_malformed_id_in_a_page_path_is_a_page_naming_it(world: World) -> None:
    world.user("ids@example.com")
    sign_in(world, "ids@example.com")
    response = world.client.get("/tenants/Not_A-Tenant!")
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "tenant_id" in response.text and "ids@example.com" in response.text
