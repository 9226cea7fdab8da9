"""The add-ons page through FastAPI's TestClient: every add-on of the catalog shown with its
prices and plans, the plan's add-ons editable with all their fields, previewed before
anything is queued; errors name the field and the limit and change nothing; a viewer gets
no form; another tenant's page answers 404 (also walked by the route-table tests)."""

from __future__ import annotations

import re

import pytest

from components.plans import PlanName
from control_plane.accounts.roles import TenantRole
from control_plane.web.portal import addons_form
from tests.web.portal.page_helpers import free_tenant, sign_in, subscribed_tenant
from tests.web.web_helpers import PASSWORD, World

TELEPHONY = {
    "telephony": "on",
    "telephony_lines": "2",
    "telephony_country": "DE",
    "telephony_number_type": "DID",
    "telephony_forward_to": "+4930123456",
    "telephony_forward_timeout_seconds": "20",
    "telephony_time_zone": "Europe/Berlin",
    "telephony_days": ["MONDAY", "TUESDAY", "WEDNESDAY"],
    "telephony_opens": "08:00",
    "telephony_closes": "18:00",
}


@pytest.fixture
def starter(world: World) -> str:
    """A starter tenant in a region with Amazon Connect; its owner signed in (CSRF token)."""
    subscribed_tenant(
        world,
        "owner@example.com",
        "phone-co",
        "Phone Co",
        plan=PlanName.STARTER,
        region="eu-central-1",
    )
    return sign_in(world, "owner@example.com")


def _form(csrf: str, **fields: object) -> dict[str, object]:
    """The page's own form values for the tenant, with `fields` changed."""
    return {"csrf_token": csrf, **dict.fromkeys(addons_form.FIELDS, ""), **fields}


def test_the_page_shows_prices_plans_and_what_the_plan_lacks(world: World, starter: str) -> None:
    page = world.client.get("/tenants/phone-co/addons")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'href="/tenants/phone-co/addons" aria-current="page"' in text
    assert "$5.00 per line a month" in text and "$0.018 per min beyond 100 min" in text
    assert "$45.00 per site a month" in text
    # Private connectivity is not on starter: named with the plans that have it, no control.
    assert "Not on the starter plan: available on the pro, enterprise plans" in text
    assert 'name="connectivity"' not in text and 'id="connectivity_sites"' not in text
    # Starter telephony has no voicemail, its endpoint no WAF: said, not offered.
    assert 'name="telephony_voicemail"' not in text and "Voicemail: not on the starter" in text
    assert 'name="endpoint_rate_limit"' not in text
    assert "1 to 2 on this plan" in text
    # Every control has a label.
    for control in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', text):
        assert f'for="{control}"' in text, control


def test_enabling_telephony_is_previewed_then_queued(world: World, starter: str) -> None:
    form = _form(starter, **TELEPHONY)
    preview = world.client.post("/tenants/phone-co/addons/preview", data=form)
    assert preview.status_code == 200, preview.text
    counts = dict(re.findall(r"<dt>Resources to (\w+)</dt><dd>(\d+)</dd>", preview.text))
    assert int(counts["create"]) >= 4, counts  # the Connect instance, two numbers, flows
    changed = re.findall(r"<li><code>(addons\.telephony=[^<]*)</code></li>", preview.text)
    assert changed and "&#39;lines&#39;: 2" in changed[0], preview.text
    assert world.context.tenants.show("phone-co").spec_version == 1, "a preview wrote"
    version = re.search(r'name="spec_version" value="(\d+)"', preview.text)
    assert version is not None
    # The confirmation carries the previewed fields back (days as one hidden field).
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', preview.text))
    assert hidden["telephony_days"] == "MONDAY,TUESDAY,WEDNESDAY"
    applied = world.client.post(
        "/tenants/phone-co/addons",
        data={**hidden, "spec_version": version.group(1)},
        follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text
    assert applied.headers["location"] == "/tenants/phone-co/operations"
    view = world.context.tenants.show("phone-co")
    telephony = view.spec["addons"]["telephony"]
    assert telephony["lines"] == 2 and telephony["forward_to"] == "+4930123456"
    assert telephony["hours"]["days"] == ["MONDAY", "TUESDAY", "WEDNESDAY"]
    assert view.spec_version == 2 and view.pending_jobs
    assert "add-ons changed in the portal" in world.client.get("/tenants/phone-co/operations").text
    # The page now shows the add-on as the spec has it, and unticking it removes it.
    page = world.client.get("/tenants/phone-co/addons").text
    assert 'name="telephony" value="on" checked' in page and 'value="+4930123456"' in page
    removed = world.client.post("/tenants/phone-co/addons/preview", data=_form(starter))
    assert removed.status_code == 200 and "addons.telephony=None" in removed.text
    assert int(re.findall(r"Resources to delete</dt><dd>(\d+)", removed.text)[0]) >= 4


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**TELEPHONY, "telephony_lines": "3"}, "3 lines exceed plan &#39;starter&#39; limit of 2"),
        ({**TELEPHONY, "telephony_lines": "two"}, "addons.telephony.lines: &#39;two&#39; is not"),
        ({**TELEPHONY, "telephony_forward_to": "0301234"}, "addons.telephony.forward_to"),
        ({**TELEPHONY, "telephony_voicemail": "on"}, "voicemail is not available on plan"),
        ({**TELEPHONY, "telephony_closes": "07:00"}, "closes 07:00 is not after opens 08:00"),
        ({"connectivity": "on", "connectivity_sites": "hq | 52.95.110.1"}, "not available"),
        ({"endpoint": "on", "endpoint_rate_limit": "500"}, "a rate limit needs WAF"),
        (
            {"mail": "on", "mail_daily_quota": "5000"},
            "exceeds plan &#39;starter&#39; limit of 1000",
        ),
    ],
)
def test_errors_name_the_field_and_limit_and_change_nothing(
    world: World, starter: str, fields: dict[str, object], message: str
) -> None:
    before = len(world.context.tenants.history("phone-co"))
    for path in ("/tenants/phone-co/addons/preview", "/tenants/phone-co/addons"):
        response = world.client.post(path, data={**_form(starter, **fields), "spec_version": "1"})
        assert response.status_code == 422, response.text
        assert message in response.text
        assert 'id="form-errors"' in response.text
    view = world.context.tenants.show("phone-co")
    assert view.spec_version == 1 and "addons" not in view.spec
    assert len(world.context.tenants.history("phone-co")) == before


def test_a_pro_tenant_sets_up_a_vpn_site_and_a_waf_rate_limit(world: World) -> None:
    subscribed_tenant(
        world, "pro@example.com", "pro-co", "Pro Co", plan=PlanName.PRO, region="eu-west-1"
    )
    csrf = sign_in(world, "pro@example.com")
    page = world.client.get("/tenants/pro-co/addons").text
    assert "Not in region eu-west-1: Amazon Connect runs in" in page
    assert 'id="connectivity_sites"' in page and "100 to 20000 on this plan" in page
    form = _form(
        csrf,
        connectivity="on",
        connectivity_sites="hq | 52.95.110.1 | 65010 | 192.168.10.0/24 192.168.20.0/24",
        endpoint="on",
        endpoint_rate_limit="500",
        endpoint_redirect_http="",
    )
    too_many = world.client.post(
        "/tenants/pro-co/addons/preview",
        data={**form, "connectivity_sites": "hq | 52.95.110.1\nlab | 52.95.110.2"},
    )
    assert too_many.status_code == 422 and "2 sites exceed plan &#39;pro&#39; limit of 1" in (
        too_many.text
    )
    preview = world.client.post("/tenants/pro-co/addons/preview", data=form)
    assert preview.status_code == 200, preview.text
    version = re.search(r'name="spec_version" value="(\d+)"', preview.text)
    assert version is not None
    applied = world.client.post(
        "/tenants/pro-co/addons", data={**form, "spec_version": version.group(1)}
    )
    assert applied.status_code == 200  # followed to the operations page
    addons = world.context.tenants.show("pro-co").spec["addons"]
    assert addons["connectivity"]["sites"] == [
        {
            "name": "hq",
            "public_ip": "52.95.110.1",
            "bgp_asn": 65010,
            "static_routes": ["192.168.10.0/24", "192.168.20.0/24"],
        }
    ]
    assert addons["endpoint"] == {"rate_limit": 500, "redirect_http": False}


def test_a_viewer_gets_no_form_and_its_post_is_refused(world: World, starter: str) -> None:
    world.user("viewer@example.com")
    owner = world.accounts.principal_for_session(
        world.accounts.sign_in("owner@example.com", PASSWORD, address="t").session_token
    )
    world.accounts.invite(owner, "phone-co", "viewer@example.com", TenantRole.VIEWER)
    world.accounts.accept_invitation(
        world.sink.code("viewer@example.com", "invited"), password=None, display_name=None
    )
    csrf = sign_in(world, "viewer@example.com")
    assert "/tenants/phone-co/addons" not in world.client.get("/tenants/phone-co").text
    page = world.client.get("/tenants/phone-co/addons")
    assert page.status_code == 403 and "<form" not in page.text.split("<main", 1)[1]
    for path in ("/tenants/phone-co/addons/preview", "/tenants/phone-co/addons"):
        posted = world.client.post(path, data={**_form(csrf, **TELEPHONY), "spec_version": "1"})
        assert posted.status_code == 403
    assert world.context.tenants.show("phone-co").spec_version == 1


def test_another_tenants_addons_answer_404_and_a_post_without_csrf_is_refused(
    world: World, starter: str
) -> None:
    free_tenant(world, "other@example.com", "other-co", "Other Secret Co")
    sign_in(world, "owner@example.com")
    csrf = sign_in(world, "owner@example.com")
    assert world.client.get("/tenants/other-co/addons").status_code == 404
    posted = world.client.post("/tenants/other-co/addons/preview", data=_form(csrf, mail="on"))
    assert posted.status_code == 404 and "Other Secret Co" not in posted.text
    unsigned = {k: v for k, v in _form(csrf, **TELEPHONY).items() if k != "csrf_token"}
    refused = world.client.post("/tenants/phone-co/addons/preview", data=unsigned)
    assert refused.status_code == 403
    assert world.context.tenants.show("phone-co").spec_version == 1


def test_onboarding_points_to_the_addons_page_for_addons_with_settings(world: World) -> None:
    world.user("new@example.com")
    sign_in(world, "new@example.com")
    page = world.client.get("/onboarding").text
    assert 'Telephony <span class="muted">(set up on the tenant\'s Add-ons page' in page
    assert "ask us" not in page
