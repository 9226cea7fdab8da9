"""The self-service API end to end through HTTP: sign-up to a provisioned tenant with mail
caught by a real SMTP sink, paid plans completed by the signed billing webhook,
invitations and roles, password reset, lockout, token revocation and retirement."""

from __future__ import annotations

from datetime import timedelta

from components.plans import PlanName
from control_plane.accounts.roles import PlatformRole, Scope
from tests.web.web_helpers import PASSWORD, World, auth

API = "/api/v1"


def _sign_up(world: World, email: str) -> dict[str, str]:
    """Sign up, confirm from the mail, sign in; the session's CSRF header."""
    client = world.client
    created = client.post(
        f"{API}/account/signup",
        json={"email": email, "password": PASSWORD, "display_name": "Ada"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["verified"] is False
    code = world.sink.code(email, "confirm")
    assert client.post(f"{API}/account/verify", json={"token": code}).json()["verified"]
    signed_in = client.post(f"{API}/sessions", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 201, signed_in.text
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    return {"X-CSRF-Token": signed_in.json()["csrf_token"]}


def test_sign_up_to_provisioned_tenant(world: World) -> None:
    client = world.client
    csrf = _sign_up(world, "ada@example.com")
    # A signed-in browser must echo its CSRF token on changes.
    refused = client.post(f"{API}/tokens", json={"name": "ci", "scope": "write"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    issued = client.post(f"{API}/tokens", json={"name": "ci", "scope": "write"}, headers=csrf)
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert token.startswith("tnt_")
    client.cookies.clear()
    # The token is never shown again.
    listed = client.get(f"{API}/tokens", headers=auth(token)).json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]

    created = client.post(
        f"{API}/tenants",
        json={"tenant_id": "ada-labs", "plan": "free", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "queued"
    world.run_jobs()
    tenant = client.get(f"{API}/tenants/ada-labs", headers=auth(token)).json()
    assert tenant["state"] == "active" and tenant["role"] == "owner"
    assert tenant["display_state"] == "active (plan)"
    operations = client.get(f"{API}/tenants/ada-labs/operations", headers=auth(token)).json()
    assert [op["actor"] for op in operations["items"]][-1] == "user:ada@example.com"
    assert client.get(f"{API}/me", headers=auth(token)).json()["memberships"] == [
        {"tenant_id": "ada-labs", "role": "owner"}
    ]


def test_unverified_accounts_cannot_sign_in_and_codes_are_single_use(world: World) -> None:
    client = world.client
    client.post(
        f"{API}/account/signup",
        json={"email": "bo@example.com", "password": PASSWORD, "display_name": "Bo"},
    )
    early = client.post(f"{API}/sessions", json={"email": "bo@example.com", "password": PASSWORD})
    assert early.status_code == 403
    code = world.sink.code("bo@example.com", "confirm")
    assert client.post(f"{API}/account/verify", json={"token": code}).status_code == 200
    again = client.post(f"{API}/account/verify", json={"token": code})
    assert again.status_code == 422
    assert "used already or expired" in again.json()["detail"]


def test_verification_codes_expire(world: World) -> None:
    client = world.client
    client.post(
        f"{API}/account/signup",
        json={"email": "cy@example.com", "password": PASSWORD, "display_name": "Cy"},
    )
    code = world.sink.code("cy@example.com", "confirm")
    world.clock.advance(timedelta(hours=25))
    assert client.post(f"{API}/account/verify", json={"token": code}).status_code == 422


def test_paid_plan_waits_for_the_billing_webhook(world: World) -> None:
    world.user("owner@example.com")
    token = world.token("owner@example.com")
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "paid-co", "plan": "starter", "region": "eu-west-1"},
        headers=auth(token),
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "awaiting-billing"
    waiting = world.client.get(f"{API}/tenants/paid-co", headers=auth(token)).json()
    assert waiting["state"] == "awaiting-billing"
    # Someone else cannot take the id meanwhile.
    world.user("rival@example.com")
    rival = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "paid-co", "plan": "free", "region": "eu-west-1"},
        headers=auth(world.token("rival@example.com")),
    )
    assert rival.status_code == 409

    world.send_checkout("paid-co", PlanName.STARTER, event_id="evt_paid1", sub="sub_paid1")
    tenant = world.client.get(f"{API}/tenants/paid-co", headers=auth(token)).json()
    assert tenant["state"] == "pending" and tenant["plan"] == "starter"
    assert tenant["role"] == "owner"
    # A paid tenant is retired by cancelling its subscription, not through the API.
    retire = world.client.delete(f"{API}/tenants/paid-co", headers=auth(token))
    assert retire.status_code == 409 and "subscription" in retire.json()["detail"]


def test_spec_changes_need_the_current_etag_and_stay_within_the_plan(world: World) -> None:
    world.user("o@example.com")
    token = world.token("o@example.com")
    world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "spec-co", "region": "eu-west-1"},
        headers=auth(token),
    )
    spec = world.client.get(f"{API}/tenants/spec-co/spec", headers=auth(token))
    etag = spec.headers["etag"]
    assert spec.json()["version"] == 1
    not_modified = world.client.get(
        f"{API}/tenants/spec-co/spec", headers={**auth(token), "If-None-Match": etag}
    )
    assert not_modified.status_code == 304
    patch_headers = {**auth(token), "Content-Type": "application/merge-patch+json"}
    body = '{"compute": {"max_size": 5}}'
    missing = world.client.patch(f"{API}/tenants/spec-co/spec", content=body, headers=patch_headers)
    assert missing.status_code == 428
    over = world.client.patch(
        f"{API}/tenants/spec-co/spec", content=body, headers={**patch_headers, "If-Match": etag}
    )
    assert over.status_code == 422
    assert over.headers["content-type"] == "application/problem+json"
    assert "compute.max_size" in over.json()["detail"] and "limit of 1" in over.json()["detail"]
    unchanged = world.client.get(f"{API}/tenants/spec-co", headers=auth(token)).json()
    assert unchanged["spec_version"] == 1 and len(unchanged["pending_jobs"]) == 1

    contacts = '{"alarms": {"contacts": ["ops@spec.example"]}}'
    changed = world.client.patch(
        f"{API}/tenants/spec-co/spec", content=contacts, headers={**patch_headers, "If-Match": etag}
    )
    assert changed.status_code == 202, changed.text
    assert changed.headers["etag"] == '"spec-co-v2"'
    stale = world.client.patch(
        f"{API}/tenants/spec-co/spec", content=contacts, headers={**patch_headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    plan = world.client.patch(
        f"{API}/tenants/spec-co/spec",
        content='{"plan": "pro"}',
        headers={**patch_headers, "If-Match": '"spec-co-v2"'},
    )
    assert plan.status_code == 409 and "billing" in plan.json()["detail"]
    history = world.client.get(f"{API}/tenants/spec-co/operations", headers=auth(token)).json()
    assert history["items"][0]["actor"] == "user:o@example.com"
    assert "alarms.contacts" in history["items"][0]["message"]


def test_invitation_role_change_and_the_last_owner(world: World) -> None:
    owner_id = world.user("own@example.com")
    owner = world.token("own@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "team-co", "region": "eu-west-1"}, headers=auth(owner)
    )
    invited = world.client.post(
        f"{API}/tenants/team-co/invitations",
        json={"email": "new@example.com", "role": "viewer"},
        headers=auth(owner),
    )
    assert invited.status_code == 201, invited.text
    code = world.sink.code("new@example.com", "invited")
    weak = world.client.post(
        f"{API}/invitations/accept",
        json={"token": code, "password": "short", "display_name": "New"},
    )
    assert weak.status_code == 422 and "password" in weak.json()["detail"]
    # The refused attempt did not use the code up (nothing half-applied).
    joined = world.client.post(
        f"{API}/invitations/accept",
        json={"token": code, "password": PASSWORD, "display_name": "New"},
    )
    assert joined.status_code == 200, joined.text
    new_id = joined.json()["user_id"]
    viewer = world.token("new@example.com")
    assert world.client.get(f"{API}/tenants/team-co", headers=auth(viewer)).json()["role"] == (
        "viewer"
    )
    denied = world.client.post(
        f"{API}/tenants/team-co/invitations",
        json={"email": "x@example.com"},
        headers=auth(viewer),
    )
    assert denied.status_code == 403

    promoted = world.client.patch(
        f"{API}/tenants/team-co/members/{new_id}", json={"role": "admin"}, headers=auth(owner)
    )
    assert promoted.json()["role"] == "admin"
    admin = viewer
    # An admin may not touch owners; the last owner cannot leave.
    assert (
        world.client.patch(
            f"{API}/tenants/team-co/members/{owner_id}",
            json={"role": "member"},
            headers=auth(admin),
        ).status_code
        == 403
    )
    last = world.client.delete(f"{API}/tenants/team-co/members/{owner_id}", headers=auth(owner))
    assert last.status_code == 409 and "at least one owner" in last.json()["detail"]
    removed = world.client.delete(f"{API}/tenants/team-co/members/{new_id}", headers=auth(owner))
    assert removed.status_code == 204
    assert world.client.get(f"{API}/tenants/team-co", headers=auth(admin)).status_code == 404
    members = world.client.get(f"{API}/tenants/team-co/members", headers=auth(owner)).json()
    assert [m["email"] for m in members] == ["own@example.com"]
    audit = world.client.get(f"{API}/tenants/team-co/audit", headers=auth(owner)).json()
    trail = [(e["actor"], e["action"], e["subject"]) for e in reversed(audit["items"])]
    assert trail[-4:] == [
        ("user:own@example.com", "member.invite", "new@example.com"),
        ("user:new@example.com", "member.join", "new@example.com"),
        ("user:own@example.com", "member.role", "new@example.com"),
        ("user:own@example.com", "member.remove", "new@example.com"),
    ]


def test_password_reset_ends_sessions(world: World) -> None:
    world.user("reset@example.com")
    client = world.client
    signed_in = client.post(
        f"{API}/sessions", json={"email": "reset@example.com", "password": PASSWORD}
    )
    assert client.get(f"{API}/me").status_code == 200
    assert (
        client.post(
            f"{API}/account/password-reset", json={"email": "reset@example.com"}
        ).status_code
        == 202
    )
    # Unknown addresses get the same answer and no mail.
    assert (
        client.post(
            f"{API}/account/password-reset", json={"email": "nobody@example.com"}
        ).status_code
        == 202
    )
    assert world.sink.to("nobody@example.com") == []
    code = world.sink.code("reset@example.com", "reset")
    new_password = "a different long passphrase"
    done = client.post(
        f"{API}/account/password-reset/confirm", json={"token": code, "password": new_password}
    )
    assert done.status_code == 200, done.text
    assert signed_in.status_code == 201
    assert client.get(f"{API}/me").status_code == 401
    old = client.post(f"{API}/sessions", json={"email": "reset@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = client.post(
        f"{API}/sessions", json={"email": "reset@example.com", "password": new_password}
    )
    assert new.status_code == 201


def test_lockout_after_failures_and_operator_unlock(world: World) -> None:
    user_id = world.user("lock@example.com")
    client = world.client
    for _ in range(world.accounts.settings.lockout_threshold):
        wrong = client.post(f"{API}/sessions", json={"email": "lock@example.com", "password": "x"})
        assert wrong.status_code == 401
    locked = client.post(
        f"{API}/sessions", json={"email": "lock@example.com", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    world.user("op@example.com", platform_role=PlatformRole.OPERATOR)
    operator = world.token("op@example.com")
    client.cookies.clear()
    unlocked = client.post(f"{API}/users/{user_id}/unlock", headers=auth(operator))
    assert unlocked.status_code == 200, unlocked.text
    again = client.post(f"{API}/sessions", json={"email": "lock@example.com", "password": PASSWORD})
    assert again.status_code == 201


def test_token_revocation_and_expiry_take_effect_at_once(world: World) -> None:
    world.user("rev@example.com")
    token = world.token("rev@example.com")
    other = world.token("rev@example.com", scope=Scope.READ)
    tokens = world.client.get(f"{API}/tokens", headers=auth(token)).json()
    read_id = next(t["id"] for t in tokens if t["scope"] == "read")
    assert world.client.get(f"{API}/me", headers=auth(other)).status_code == 200
    revoked = world.client.delete(f"{API}/tokens/{read_id}", headers=auth(token))
    assert revoked.json()["revoked_at"] is not None
    answer = world.client.get(f"{API}/me", headers=auth(other))
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"
    world.clock.advance(timedelta(days=2))
    expired = world.client.get(f"{API}/me", headers=auth(token))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_retirement_revokes_tokens_and_memberships(world: World) -> None:
    world.user("ret@example.com")
    token = world.token("ret@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "ret-co", "region": "eu-west-1"}, headers=auth(token)
    )
    bound = world.token("ret@example.com", tenant_id="ret-co")
    assert world.client.get(f"{API}/tenants/ret-co", headers=auth(bound)).status_code == 200
    retired = world.client.delete(f"{API}/tenants/ret-co", headers=auth(token))
    assert retired.status_code == 202, retired.text
    assert world.client.get(f"{API}/tenants/ret-co", headers=auth(bound)).status_code == 401
    assert world.client.get(f"{API}/tenants/ret-co", headers=auth(token)).status_code == 404
    assert world.client.get(f"{API}/me", headers=auth(token)).json()["memberships"] == []


def test_retirement_by_billing_revokes_access_on_the_next_pass(world: World) -> None:
    world.user("bill@example.com")
    token = world.token("bill@example.com")
    world.client.post(
        f"{API}/tenants",
        json={"tenant_id": "gone-co", "plan": "starter", "region": "eu-west-1"},
        headers=auth(token),
    )
    world.send_checkout("gone-co", PlanName.STARTER, event_id="evt_g1", sub="sub_gone1")
    bound = world.token("bill@example.com", tenant_id="gone-co")
    world.context.tenants.delete("gone-co", actor="billing")
    # Memberships of a tenant being retired stop counting at once ...
    assert world.client.get(f"{API}/tenants/gone-co", headers=auth(token)).status_code == 404
    # ... and the sweep ends them and revokes the tenant's tokens, for the record.
    assert world.accounts.sweep() == ["gone-co"]
    assert world.client.get(f"{API}/me", headers=auth(bound)).status_code == 401


def test_fleet_is_for_platform_roles_with_filters(world: World) -> None:
    for email in ("a@example.com", "b@example.com"):
        world.user(email)
    a, b = world.token("a@example.com"), world.token("b@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "a-co", "region": "eu-west-1"}, headers=auth(a)
    )
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "b-co", "region": "us-east-1"}, headers=auth(b)
    )
    mine = world.client.get(f"{API}/tenants", headers=auth(a)).json()
    assert [t["tenant_id"] for t in mine["items"]] == ["a-co"]
    world.user("aud@example.com", platform_role=PlatformRole.AUDITOR)
    auditor = world.token("aud@example.com")
    fleet = world.client.get(f"{API}/tenants", headers=auth(auditor)).json()
    assert [t["tenant_id"] for t in fleet["items"]] == ["a-co", "b-co"]
    us = world.client.get(f"{API}/tenants?region=us-east-1", headers=auth(auditor)).json()
    assert [t["tenant_id"] for t in us["items"]] == ["b-co"]
    page = world.client.get(f"{API}/tenants?limit=1", headers=auth(auditor)).json()
    assert len(page["items"]) == 1 and page["next_offset"] == 1
    assert (
        world.client.get(f"{API}/tenants?failing=true", headers=auth(auditor)).json()["items"] == []
    )


def test_a_disabled_account_loses_its_sessions_and_tokens(world: World) -> None:
    user_id = world.user("dis@example.com")
    token = world.token("dis@example.com")
    world.client.post(f"{API}/sessions", json={"email": "dis@example.com", "password": PASSWORD})
    world.accounts.disable(user_id, actor="tenantctl:root")
    assert world.client.get(f"{API}/me").status_code == 401
    world.client.cookies.clear()
    assert world.client.get(f"{API}/me", headers=auth(token)).status_code == 401
    again = world.client.post(
        f"{API}/sessions", json={"email": "dis@example.com", "password": PASSWORD}
    )
    assert again.status_code == 401 and "disabled" in again.json()["detail"]


def test_a_platform_user_who_is_also_a_member_keeps_both_roles(world: World) -> None:
    world.user("staff@example.com", platform_role=PlatformRole.OPERATOR)
    staff = world.token("staff@example.com")
    world.client.post(
        f"{API}/tenants", json={"tenant_id": "own-co", "region": "eu-west-1"}, headers=auth(staff)
    )
    # Owner in its own tenant (spec changes), operator everywhere (suspend).
    spec = world.client.get(f"{API}/tenants/own-co/spec", headers=auth(staff))
    patched = world.client.patch(
        f"{API}/tenants/own-co/spec",
        content=b"{}",
        headers={
            **auth(staff),
            "If-Match": spec.headers["etag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert patched.status_code == 202 and patched.json()["status"] == "unchanged"
    suspend = world.client.post(f"{API}/tenants/own-co/suspend", headers=auth(staff))
    assert suspend.status_code == 409 and "pending" in suspend.json()["detail"]
