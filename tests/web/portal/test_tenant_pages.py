"""The tenant pages through FastAPI's TestClient: another tenant's pages answer 404 on
every route of the table with nothing of its data; a viewer reads but does not change;
settings are previewed before anything is queued and errors name the field and limit;
tokens are shown once; members are invited, re-roled and removed."""

from __future__ import annotations

import re

import boto3
import pytest

from components.names import alarm_name_prefix
from control_plane.accounts.roles import TenantRole
from tests.web.portal.page_helpers import (
    form_token,
    free_tenant,
    issue_invoice,
    page_routes,
    sign_in,
)
from tests.web.web_helpers import PASSWORD, World

SETTINGS = {
    "instance_type": "",
    "min_size": "",
    "desired_capacity": "",
    "max_size": "",
    "schedules": "",
    "ingress": "",
    "alarm_contacts": "owner-a@example.com",
    "cpu_high_percent": "85",
    "storage_quota_percent": "90",
    "retention_days": "",
    "buckets": "data",
}


@pytest.fixture
def two_tenants(world: World) -> dict[str, str]:
    """Tenant A (owner-a) and tenant B (owner-b, a member, an invitation, a token, an
    invoice); the values a page of B could leak."""
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    free_tenant(world, "owner-b@example.com", "tenant-b", "Bravo Secret Labs")
    world.user("member-b@example.com", name="Bea Hidden")
    b = world.accounts.principal_for_session(
        world.accounts.sign_in("owner-b@example.com", PASSWORD, address="t").session_token
    )
    world.accounts.invite(b, "tenant-b", "member-b@example.com", TenantRole.MEMBER)
    world.accounts.accept_invitation(
        world.sink.code("member-b@example.com", "invited"), password=None, display_name=None
    )
    world.accounts.invite(b, "tenant-b", "pending-b@example.com", TenantRole.VIEWER)
    world.token("owner-b@example.com")
    invoice = issue_invoice(world, "tenant-b")
    member_id = next(
        m.user_id for m in world.accounts.members("tenant-b") if m.email.startswith("member")
    )
    token_id = world.accounts.tokens(b)[0].id
    case = world.client.post(
        "/api/v1/tenants/tenant-b/cases",
        json={"subject": "Bravo Secret Labs outage", "body": "owner-b@ writes"},
        headers={"Authorization": f"Bearer {world.token('owner-b@example.com')}"},
    )
    assert case.status_code == 201, case.text
    return {
        "case_id": str(case.json()["id"]),
        "tenant_id": "tenant-b",
        "user_id": str(member_id),
        "token_id": str(token_id),
        "number": str(invoice.number),
    }


LEAKS = ("Bravo Secret Labs", "member-b@", "pending-b@", "owner-b@", "Bea Hidden", "INV-")


def test_another_tenants_pages_answer_404_on_every_route(
    world: World, two_tenants: dict[str, str]
) -> None:
    csrf = sign_in(world, "owner-a@example.com")
    routes = [r for r in page_routes() if "tenant_id" in r.params]
    assert len(routes) >= 17, routes
    for route in routes:
        data = {"csrf_token": csrf, "email": "x@example.com", "role": "viewer", "plan": "pro"}
        response = world.client.request(
            route.method,
            route.url(two_tenants),
            data=data if route.method == "POST" else None,
            follow_redirects=False,
        )
        assert response.status_code == 404, (route, response.status_code, response.text[:300])
        for leak in LEAKS:
            assert leak not in response.text, (route, leak)
    # Nothing changed in B: its members, invitations and spec are as they were.
    assert len(world.accounts.members("tenant-b")) == 2
    assert len(world.accounts.invitations("tenant-b")) == 1
    assert world.context.tenants.show("tenant-b").spec_version == 1


def test_another_users_token_cannot_be_revoked(world: World, two_tenants: dict[str, str]) -> None:
    csrf = sign_in(world, "owner-a@example.com")
    url = f"/account/tokens/{two_tenants['token_id']}/revoke"
    response = world.client.post(url, data={"csrf_token": csrf}, follow_redirects=True)
    assert "not found" in response.text
    b = world.accounts.principal_for_session(
        world.accounts.sign_in("owner-b@example.com", PASSWORD, address="t").session_token
    )
    target = next(t for t in world.accounts.tokens(b) if t.id == int(two_tenants["token_id"]))
    assert target.revoked_at is None
    assert target.prefix not in world.client.get("/account/tokens").text


def test_the_home_page_lists_only_the_callers_tenants(
    world: World, two_tenants: dict[str, str]
) -> None:
    sign_in(world, "owner-a@example.com")
    home = world.client.get("/").text
    assert "Alpha Works" in home and "tenant-b" not in home and "Bravo" not in home


def test_a_viewer_sees_the_tenant_but_not_the_settings(world: World) -> None:
    free_tenant(world, "owner@example.com", "viewed", "Viewed Co")
    world.user("viewer@example.com")
    owner = world.accounts.principal_for_session(
        world.accounts.sign_in("owner@example.com", PASSWORD, address="t").session_token
    )
    world.accounts.invite(owner, "viewed", "viewer@example.com", TenantRole.VIEWER)
    world.accounts.accept_invitation(
        world.sink.code("viewer@example.com", "invited"), password=None, display_name=None
    )
    csrf = sign_in(world, "viewer@example.com")
    overview = world.client.get("/tenants/viewed")
    assert overview.status_code == 200 and "Viewed Co" in overview.text
    assert "/tenants/viewed/settings" not in overview.text
    assert "/tenants/viewed/invoices" not in overview.text
    settings = world.client.get("/tenants/viewed/settings")
    assert settings.status_code == 403 and "may not spec.update" in settings.text
    posted = world.client.post(
        "/tenants/viewed/settings/preview", data={"csrf_token": csrf, **SETTINGS}
    )
    assert posted.status_code == 403
    members = world.client.get("/tenants/viewed/members").text
    assert "Invite someone" not in members and "Remove" not in members


def test_settings_are_previewed_before_anything_is_queued(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    csrf = sign_in(world, "owner-a@example.com")
    form = {"csrf_token": csrf, **SETTINGS, "instance_type": "t4g.micro"}
    before = len(world.context.tenants.history("tenant-a"))
    preview = world.client.post("/tenants/tenant-a/settings/preview", data=form)
    assert preview.status_code == 200, preview.text
    counts = dict(re.findall(r"<dt>Resources to (\w+)</dt><dd>(\d+)</dd>", preview.text))
    assert set(counts) == {"create", "update", "delete"}
    assert int(counts["update"]) >= 1  # the launch template's instance type
    assert "compute.instance_type=&#39;t4g.micro&#39;" in preview.text
    assert len(world.context.tenants.history("tenant-a")) == before, "a preview queued work"
    assert world.context.tenants.show("tenant-a").spec_version == 1
    version = re.search(r'name="spec_version" value="(\d+)"', preview.text)
    assert version is not None
    applied = world.client.post(
        "/tenants/tenant-a/settings",
        data={**form, "spec_version": version.group(1)},
        follow_redirects=False,
    )
    assert applied.status_code == 303
    assert applied.headers["location"] == "/tenants/tenant-a/operations"
    view = world.context.tenants.show("tenant-a")
    assert view.spec["compute"]["instance_type"] == "t4g.micro" and view.spec_version == 2
    assert view.pending_jobs, "the change was not queued"
    operations = world.client.get("/tenants/tenant-a/operations").text
    assert "settings changed in the portal" in operations
    assert "user:owner-a@example.com" in operations
    assert 'hx-trigger="every 2s"' in operations  # running: the list polls itself
    # The same confirmation again is refused: the spec moved on since the preview.
    again = world.client.post(
        "/tenants/tenant-a/settings", data={**form, "spec_version": version.group(1)}
    )
    assert again.status_code == 412 and "read it again" in again.text
    world.run_jobs()
    idle = world.client.get("/tenants/tenant-a/operations?fragment=1").text
    assert idle.startswith('<div id="operations"') and "hx-trigger" not in idle


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_size", "5", "compute.max_size: max_size 5 exceeds plan &#39;free&#39; limit of 1"),
        ("max_size", "many", "compute.max_size: &#39;many&#39; is not a whole number"),
        ("retention_days", "400", "storage.retention_days"),
        ("schedules", "nightly | 0 20 * * *", "schedules line 1: expected"),
        ("ingress", "443 tcp not-a-network web", "network.ingress"),
        ("buckets", "data\nlogs", "storage.buckets"),
    ],
)
def test_settings_errors_name_the_field_and_the_limit(
    world: World, field: str, value: str, message: str
) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    csrf = sign_in(world, "owner-a@example.com")
    form = {"csrf_token": csrf, **SETTINGS, field: value}
    response = world.client.post("/tenants/tenant-a/settings/preview", data=form)
    assert response.status_code == 422, response.text
    assert message in response.text
    assert f">{value}</textarea>" in response.text or f'value="{value}"' in response.text
    assert world.context.tenants.show("tenant-a").spec_version == 1


def test_tokens_are_shown_once_and_revoked(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    csrf = sign_in(world, "owner-a@example.com")
    bad = world.client.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "ci", "scope": "admin", "expires_in_days": "999"},
    )
    assert bad.status_code == 422
    assert "scope: Input should be &#39;read&#39; or &#39;write&#39;" in bad.text
    assert "expires_in_days: Input should be less than or equal to 365" in bad.text
    issued = world.client.post(
        "/account/tokens",
        data={
            "csrf_token": csrf,
            "name": "deploys",
            "scope": "read",
            "expires_in_days": "30",
            "tenant_id": "tenant-a",
        },
    )
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    token = re.search(r"(tnt_[A-Za-z0-9_-]+)", issued.text)
    assert token is not None
    api = world.client.get(
        "/api/v1/tenants/tenant-a", headers={"Authorization": f"Bearer {token[1]}"}
    )
    assert api.status_code == 200
    listed = world.client.get("/account/tokens").text
    assert "deploys" in listed and token[1] not in listed
    token_id = re.search(r"deploys</td>.*?/account/tokens/(\d+)/revoke", listed, re.DOTALL)
    assert token_id is not None
    world.client.post(f"/account/tokens/{token_id[1]}/revoke", data={"csrf_token": csrf})
    world.client.cookies.clear()
    refused = world.client.get(
        "/api/v1/tenants/tenant-a", headers={"Authorization": f"Bearer {token[1]}"}
    )
    assert refused.status_code == 401


def test_members_are_invited_re_roled_and_removed(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    csrf = sign_in(world, "owner-a@example.com")
    url = "/tenants/tenant-a"
    bad = world.client.post(
        f"{url}/invitations",
        data={"csrf_token": csrf, "email": "nobody", "role": "viewer"},
        follow_redirects=True,
    )
    assert "email: value is not a valid email address" in bad.text
    invited = world.client.post(
        f"{url}/invitations",
        data={"csrf_token": csrf, "email": "joiner@example.com", "role": "viewer"},
        follow_redirects=True,
    )
    assert "Invitation mailed to joiner@example.com" in invited.text
    assert "joiner@example.com as viewer" in invited.text
    code = world.sink.code("joiner@example.com", "invited")
    world.client.cookies.clear()
    token = form_token(world, "/invitations/accept")
    joined = world.client.post(
        "/invitations/accept",
        data={"code": code, "password": PASSWORD, "display_name": "Joiner", "csrf_token": token},
        follow_redirects=False,
    )
    assert joined.status_code == 303
    csrf = sign_in(world, "owner-a@example.com")
    joiner = next(m for m in world.accounts.members("tenant-a") if m.email.startswith("joiner"))
    changed = world.client.post(
        f"{url}/members/{joiner.user_id}/role",
        data={"csrf_token": csrf, "role": "admin"},
        follow_redirects=True,
    )
    assert "joiner@example.com is now admin" in changed.text
    owner = next(m for m in world.accounts.members("tenant-a") if m.email.startswith("owner"))
    last_owner = world.client.post(
        f"{url}/members/{owner.user_id}/remove", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "owner" in last_owner.text and "flash-error" in last_owner.text
    removed = world.client.post(
        f"{url}/members/{joiner.user_id}/remove", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Member removed" in removed.text
    assert [m.email for m in world.accounts.members("tenant-a")] == ["owner-a@example.com"]


def test_invoices_list_page_and_printable_document(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    invoice = issue_invoice(world, "tenant-a")
    sign_in(world, "owner-a@example.com")
    listed = world.client.get("/tenants/tenant-a/invoices").text
    assert f'href="/tenants/tenant-a/invoices/{invoice.number}"' in listed
    shown = world.client.get(f"/tenants/tenant-a/invoices/{invoice.number}")
    assert shown.status_code == 200 and "Total" in shown.text and "Printable invoice" in shown.text
    document = world.client.get(f"/tenants/tenant-a/invoices/{invoice.number}/document")
    assert document.status_code == 200 and f"Invoice {invoice.number}" in document.text
    assert world.client.get("/tenants/tenant-a/invoices/INV-209901-0001").status_code == 404


def test_onboarding_names_bad_fields_and_creates_a_free_tenant(world: World) -> None:
    world.user("new@example.com")
    csrf = sign_in(world, "new@example.com")
    form = {"csrf_token": csrf, "tenant_id": "fresh-co", "plan": "free", "region": "mars-1"}
    refused = world.client.post("/onboarding", data=form)
    assert (
        refused.status_code == 422 and "region: &#39;mars-1&#39; is not supported" in refused.text
    )
    addon = world.client.post(
        "/onboarding", data={**form, "region": "eu-west-1", "addons": ["endpoint"]}
    )
    assert addon.status_code == 422
    assert "add-on &#39;endpoint&#39; is offered on plans: starter, pro, enterprise" in addon.text
    created = world.client.post(
        "/onboarding", data={**form, "region": "eu-west-1"}, follow_redirects=False
    )
    assert created.headers["location"] == "/tenants/fresh-co/provisioning"
    progress = world.client.get("/tenants/fresh-co/provisioning").text
    assert 'hx-trigger="every 2s"' in progress and "Working on it" in progress
    world.run_jobs()
    done = world.client.get("/tenants/fresh-co/provisioning?fragment=1").text
    assert "Your tenant is ready" in done and "hx-trigger" not in done
    taken = world.client.post("/onboarding", data={**form, "region": "eu-west-1"})
    assert taken.status_code == 409


def test_the_plan_page_shows_the_price_difference(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    sign_in(world, "owner-a@example.com")
    page = world.client.get("/tenants/tenant-a/plan").text
    assert re.findall(r'class="difference">(.*?)<', page) == [
        "+$49.00 a month more",
        "+$299.00 a month more",
        "+$1,999.00 a month more",
    ]
    assert "goes through billing" in page


def test_a_plan_change_in_the_portal_is_the_apis_claim_through_billing(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    csrf = sign_in(world, "owner-a@example.com")
    page = world.client.get("/tenants/tenant-a/plan").text
    assert "Upgrade to Starter" in page
    asked = world.client.post(
        "/tenants/tenant-a/plan",
        data={"plan": "starter", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert asked.headers["location"] == "/tenants/tenant-a/plan"
    shown = world.client.get("/tenants/tenant-a/plan").text
    # No billing key here: the claim waits for billing's subscription event, as in the API.
    assert "upgrade_claim" in shown
    assert world.context.tenants.show("tenant-a").plan == "free"  # nothing before billing
    again = world.client.post(
        "/tenants/tenant-a/plan",
        data={"plan": "pro", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert (
        "already waits for billing to move it to plan"
        in world.client.get(again.headers["location"]).text
    )


def test_the_overview_reads_alarm_states_from_the_configured_endpoint(world: World) -> None:
    free_tenant(world, "owner-a@example.com", "tenant-a", "Alpha Works")
    sign_in(world, "owner-a@example.com")
    quiet = world.client.get("/tenants/tenant-a").text
    assert "No alarms found in CloudWatch for this tenant" in quiet
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    for name, tenant in (("cpu-high", "tenant-a"), ("cpu-low", "tenant-b")):
        alarm = f"{alarm_name_prefix('tenant-a')}{name}"
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=85,
            ComparisonOperator="GreaterThanThreshold",
            Tags=[{"Key": "tenant", "Value": tenant}],
        )
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="too hot")
    shown = world.client.get("/tenants/tenant-a").text
    assert "tenant-tenant-a-cpu-high</td><td>ALARM</td><td>too hot" in shown
    assert "cpu-low" not in shown  # named like the tenant's, tagged for another one
    assert "Health: failing" in shown
