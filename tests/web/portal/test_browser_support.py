"""In Chromium: a tenant user reports a problem from a page and support answers beside the
tenant's diagnosis; an operator filters the fleet, opens the failed tenant, retries its
failed job and reads the audit log. Each page passes axe-core's WCAG 2.1 A/AA checks and
is saved as a screenshot."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from control_plane.accounts.roles import PlatformRole
from control_plane.registry.models import Job, Operation, Tenant
from tests.web.portal.browser_helpers import Live, check_accessibility, screenshot
from tests.web.web_helpers import PASSWORD, auth

pytestmark = pytest.mark.browser


def _sign_in(page: Any, live: Live, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.url}/")


def _active_tenant(live: Live, tenant_id: str, owner: str) -> None:
    """A free tenant, provisioned by the served portal's worker."""
    world = live.world
    world.user(owner)
    created = world.client.post(
        "/api/v1/tenants",
        json={"tenant_id": tenant_id, "region": "eu-west-1"},
        headers=auth(world.token(owner)),
    )
    assert created.status_code == 202, created.text
    deadline = time.monotonic() + 60
    while world.context.tenants.show(tenant_id).state != "active":
        assert time.monotonic() < deadline, f"{tenant_id} did not become active"
        time.sleep(0.1)


def _fail_the_provision(live: Live, tenant_id: str) -> int:
    """What the worker leaves after a provision failed for good (an AWS quota): the job and
    its run failed with the engine's error, the tenant failed with it."""
    error = "creating VPC: VpcLimitExceeded: the maximum number of VPCs has been reached"
    with live.world.database.transaction() as session:
        job = session.scalars(
            select(Job).where(Job.tenant_id == tenant_id).order_by(Job.id.desc()).limit(1)
        ).one()
        job.status, job.last_error = "failed", error
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.state, tenant.last_error = "failed", f"provision failed: {error}"
        run = session.scalars(
            select(Operation).where(Operation.job_id == job.id, Operation.mode.is_not(None))
        ).one()
        run.status, run.error = "failed", error
        return job.id


def test_a_tenant_user_reports_a_problem_and_support_answers(browser: Any, live: Live) -> None:
    _active_tenant(live, "umbrella", "ada@umbrella.example")
    live.world.user("sue@provider.example", platform_role=PlatformRole.SUPPORT)
    customer = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    page = customer.new_page()
    _sign_in(page, live, "ada@umbrella.example")
    page.goto("/tenants/umbrella/operations")
    page.get_by_role("link", name="Report a problem").click()
    page.wait_for_url("**/support/new?page=/tenants/umbrella/operations")
    assert page.get_by_label("Tenant").input_value() == "umbrella"
    page.get_by_label("Subject").fill("Pages load slowly since noon")
    page.get_by_label("What happened?").fill("Every page takes 10 s.\nIt was fast yesterday.")
    check_accessibility(page, "report a problem")
    screenshot(page, "support-01-report-a-problem")
    page.get_by_role("button", name="Open the case").click()
    page.wait_for_url("**/tenants/umbrella/cases/*")
    case_url = page.url
    main = page.inner_text("main")
    assert "Pages load slowly since noon" in main and "waiting for support" in main
    assert "/tenants/umbrella/operations" in main  # the page it was opened from
    check_accessibility(page, "case (customer)")
    screenshot(page, "support-02-case-customer")

    staff = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    desk = staff.new_page()
    _sign_in(desk, live, "sue@provider.example")
    desk.get_by_role("link", name="Support queue").click()
    desk.wait_for_url("**/support/cases")
    check_accessibility(desk, "support queue")
    screenshot(desk, "support-03-queue")
    desk.get_by_role("link", name="Pages load slowly since noon").click()
    assert desk.get_by_role("heading", name="Diagnosis now").is_visible()
    desk.get_by_label("Your answer").fill("We see it too; a fix is rolling out.")
    desk.get_by_role("button", name="Send answer").click()
    desk.wait_for_url("**/support/cases/*")
    assert "Your answer is in the case." in desk.inner_text("main")
    check_accessibility(desk, "case (support)")
    screenshot(desk, "support-04-case-with-diagnosis")

    page.goto(case_url)
    assert "We see it too; a fix is rolling out." in page.inner_text("main")
    customer.close()
    staff.close()


def test_an_operator_filters_the_fleet_opens_the_tenant_and_retries_a_failed_job(
    new_page: Any, live: Live
) -> None:
    _active_tenant(live, "initech", "peter@initech.example")
    _active_tenant(live, "hooli", "gavin@hooli.example")
    failed = _fail_the_provision(live, "initech")
    live.world.user("otto@provider.example", platform_role=PlatformRole.OPERATOR)
    page = new_page
    _sign_in(page, live, "otto@provider.example")
    page.get_by_role("link", name="Operator console").click()
    page.wait_for_url("**/operator")
    page.get_by_label("Failing only").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/operator?*failing=1*")
    table = page.inner_text("table")
    assert "initech" in table and "hooli" not in table
    check_accessibility(page, "fleet")
    screenshot(page, "operator-01-fleet-failing")

    page.get_by_role("link", name="initech", exact=True).click()
    page.wait_for_url("**/operator/tenants/initech")
    assert "VpcLimitExceeded" in page.inner_text("main")
    check_accessibility(page, "operator tenant")
    screenshot(page, "operator-02-tenant-failed")
    page.get_by_role("button", name=f"Retry job {failed}").click()
    page.wait_for_url("**/operator/tenants/initech")
    assert f"Job {failed} is retried as job" in page.inner_text("main")
    deadline = time.monotonic() + 60
    while live.world.context.tenants.show("initech").state != "active":
        assert time.monotonic() < deadline, "the retried job did not run"
        time.sleep(0.1)
    page.reload()
    assert f"(retry of {failed})" in page.inner_text("main")
    screenshot(page, "operator-03-tenant-retried")

    page.get_by_role("link", name="The whole audit log of initech").click()
    page.wait_for_url("**/operator/audit?tenant=initech")
    assert "retry" in page.inner_text("table") and "otto@provider.example" in page.inner_text(
        "table"
    )
    check_accessibility(page, "audit log")
    screenshot(page, "operator-04-audit")
