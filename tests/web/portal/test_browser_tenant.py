"""In Chromium, against the served portal with a worker on the offline runner: onboard a
free tenant and watch it become active, change its capacity and follow the new
operation, invite a viewer who joins and sees the tenant but not its settings, open an
invoice; a starter tenant adds phone lines on its Add-ons page. axe-core checks each main
page; each is saved as a screenshot."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.plans import PlanName
from tests.web.portal.browser_helpers import Live, check_accessibility, screenshot
from tests.web.portal.page_helpers import free_tenant, issue_invoice, subscribed_tenant
from tests.web.portal.test_browser_account import sign_up_and_in
from tests.web.web_helpers import PASSWORD

pytestmark = pytest.mark.browser

PROVISIONED = 90_000
"""Milliseconds to wait for the worker's offline plan (a few seconds on a quiet machine)."""


def look(page: Any, name: str, shot: str) -> None:
    check_accessibility(page, name)
    screenshot(page, shot)


def test_onboard_change_capacity_invite_and_invoice(browser: Any, live: Live) -> None:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_up_and_in(page, live, "olive@example.com", "Olive")

    page.get_by_role("link", name="Create a tenant").click()
    look(page, "onboarding", "05-onboarding")
    page.get_by_label("Tenant id").fill("olive-co")
    page.get_by_label("Display name").fill("Olive Co")
    page.get_by_label("Free").check()
    page.get_by_label("Region").select_option("eu-west-1")
    page.get_by_role("button", name="Create tenant").click()
    page.wait_for_url("**/tenants/olive-co/provisioning")
    screenshot(page, "06-provisioning")
    # HTMX swaps the progress in place until the worker's run is done.
    page.get_by_text("Your tenant is ready").wait_for(timeout=PROVISIONED)
    assert page.inner_text("#tenant-state") == "active (plan)"
    look(page, "provisioning", "07-provisioned")

    page.get_by_role("link", name="Open the overview").click()
    page.wait_for_url("**/tenants/olive-co")
    main = page.inner_text("main")
    for component in ("Network", "Storage", "Identity", "Compute", "Alarms"):
        assert page.get_by_role("heading", name=re.compile(f"^{component}")).is_visible()
    assert "offline plan" in main and "No alarms found in CloudWatch for this tenant" in main
    look(page, "overview", "08-overview")

    page.get_by_role("link", name="Settings").click()
    look(page, "settings", "09-settings")
    page.get_by_label("Minimum workers").fill("0")
    page.get_by_role("button", name="Preview the change").click()
    assert "compute.min_size=0" in page.inner_text("main")
    assert page.locator("#plan-counts").is_visible()
    look(page, "settings preview", "10-settings-preview")
    page.get_by_role("button", name="Queue this change").click()
    page.wait_for_url("**/tenants/olive-co/operations")
    row = page.locator("tr", has_text="settings changed in the portal")
    assert "user:olive@example.com" in row.inner_text()
    # The list updates itself while the update runs; no reload.
    page.get_by_text("An operation is under way").wait_for(state="detached", timeout=PROVISIONED)
    # (A scheduled drift check of the new tenant may be listed above it.)
    rows = page.locator("tbody tr").all_inner_texts()
    runs = [row.split("\t")[1:3] for row in rows if "\tdrift" not in row]
    assert runs[0] == ["update (plan)", "succeeded"], rows
    look(page, "operations", "11-operations")

    page.get_by_role("link", name="Plan", exact=True).click()
    assert "+$49.00 a month more" in page.inner_text("main")
    look(page, "plan", "12-plan")

    page.get_by_role("link", name="Members").click()
    page.get_by_label("E-mail address").fill("vic@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    assert "vic@example.com as viewer" in page.inner_text("main")
    look(page, "members", "13-members")

    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    assert page.inner_text("#new-token").startswith("tnt_")
    look(page, "tokens", "14-tokens")

    invoice = issue_invoice(live.world, "olive-co")
    page.goto("/tenants/olive-co/invoices")
    look(page, "invoices", "15-invoices")
    page.get_by_role("link", name=str(invoice.number)).click()
    assert "Total" in page.inner_text("main")
    look(page, "invoice", "16-invoice")
    page.get_by_role("link", name="Printable invoice").click()
    page.wait_for_url(f"**/invoices/{invoice.number}/document")
    screenshot(page, "17-invoice-document")

    # The invited viewer joins in a browser of their own.
    viewer = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    viewer.set_default_timeout(15_000)
    other = viewer.new_page()
    code = live.world.sink.code("vic@example.com", "invited")
    other.goto(f"/invitations/accept?code={code}")
    look(other, "accept invitation", "18-accept-invitation")
    other.get_by_label("Your name").fill("Vic")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Join the tenant").click()
    other.wait_for_url("**/login?next=/")
    other.get_by_label("E-mail address").fill("vic@example.com")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    other.get_by_role("link", name="Olive Co").click()
    other.wait_for_url("**/tenants/olive-co")
    subnav = other.get_by_role("navigation", name="Tenant olive-co").inner_text()
    assert "Overview" in subnav and "Settings" not in subnav and "Invoices" not in subnav
    screenshot(other, "19-viewer-overview")
    refused = other.goto("/tenants/olive-co/settings")
    assert refused is not None and refused.status == 403
    # Another customer's tenant answers like one that does not exist, with none of its data.
    free_tenant(live.world, "sam@example.com", "secret-co", "Secret Co")
    for path in ("", "/operations", "/members", "/plan", "/provisioning"):
        answer = other.goto(f"/tenants/secret-co{path}")
        assert answer is not None and answer.status == 404, path
        assert "Secret Co" not in other.content() and "sam@" not in other.content()
    screenshot(other, "20-other-tenant-not-found")
    viewer.close()
    context.close()


def test_a_starter_tenant_adds_phone_lines(browser: Any, live: Live) -> None:
    subscribed_tenant(
        live.world, "pia@example.com", "pia-co", "Pia Co", plan=PlanName.STARTER,
        region="eu-central-1",
    )  # fmt: skip
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("E-mail address").fill("pia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="pia-co").click()
    page.get_by_role("link", name="Add-ons").click()
    page.wait_for_url("**/tenants/pia-co/addons")
    telephony = page.locator("#addon-telephony")
    assert "$5.00 per line a month" in telephony.inner_text()
    assert "Not on the starter plan" in page.locator("#addon-connectivity").inner_text()
    page.get_by_label("Have phone lines").check()
    page.get_by_label("Number of lines").fill("2")
    page.get_by_label("Country of the numbers").fill("DE")
    page.get_by_label("Forward calls to").fill("+4930123456")
    look(page, "add-ons", "21-addons")
    page.get_by_role("button", name="Preview the change").click()
    assert "addons.telephony=" in page.inner_text("main")
    assert int(page.locator("#plan-counts dd").first.inner_text()) >= 4
    check_accessibility(page, "add-ons preview")
    page.get_by_role("button", name="Queue this change").click()
    page.wait_for_url("**/tenants/pia-co/operations")
    row = page.locator("tr", has_text="add-ons changed in the portal")
    assert "user:pia@example.com" in row.inner_text()
    telephony_spec = live.world.context.tenants.show("pia-co").spec["addons"]["telephony"]
    assert telephony_spec["lines"] == 2 and telephony_spec["country"] == "DE"
    context.close()
