"""Support and operator pages through FastAPI's TestClient: opening a case from a page,
the thread on both sides, the queue with the diagnosis beside a case, the fleet's filters,
retrying a failed job, suspending with a reason and the audit log; and what each role
and another tenant's user may not see."""

from __future__ import annotations

import re

import pytest

from control_plane.accounts.roles import PlatformRole
from control_plane.queue.worker import Worker
from tests.control_plane.control_plane_helpers import FailingRunner
from tests.web.portal.page_helpers import sign_in
from tests.web.web_helpers import World, auth

API = "/api/v1"


def _tenant(world: World, tenant_id: str, owner: str, region: str = "eu-west-1") -> None:
    world.user(owner)
    created = world.client.post(
        f"{API}/tenants",
        json={"tenant_id": tenant_id, "region": region},
        headers=auth(world.token(owner)),
    )
    assert created.status_code == 202, created.text


@pytest.fixture
def fleet(world: World) -> World:
    """acme (failed provision) owned by ana, globex (active) owned by bob; staff users."""
    _tenant(world, "acme", "ana@acme.example")
    settings = world.context.tenants.settings
    Worker(world.database, settings, FailingRunner("VpcLimitExceeded", retryable=False)).drain()
    _tenant(world, "globex", "bob@globex.example", region="us-east-1")
    world.run_jobs()
    world.user("olga@provider.example", platform_role=PlatformRole.OPERATOR)
    world.user("sam@provider.example", platform_role=PlatformRole.SUPPORT)
    return world


def _open_case(world: World, csrf: str, **fields: str) -> str:
    response = world.client.post(
        "/support/new",
        data={"csrf_token": csrf, "tenant_id": "acme", "subject": "Provisioning failed"}
        | {"body": "It says failed.\r\nWhat now?", "origin": "/tenants/acme"}
        | fields,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_a_tenant_user_opens_a_case_from_a_page_and_support_answers(fleet: World) -> None:
    world = fleet
    csrf = sign_in(world, "ana@acme.example")
    form = world.client.get("/support/new?page=/tenants/acme")
    assert form.status_code == 200
    assert '<option value="acme" selected>' in form.text
    assert 'name="origin" value="/tenants/acme"' in form.text
    assert re.search(r'<label for="subject">Subject</label>', form.text)
    assert '<label for="body">' in form.text and '<label for="tenant_id">' in form.text
    # Every page links to the form, with the page it was opened from.
    home = world.client.get("/")
    assert 'href="/support/new?page=/"' in home.text

    location = _open_case(world, csrf)
    assert re.fullmatch(r"/tenants/acme/cases/\d+", location)
    case_id = location.rsplit("/", 1)[1]
    shown = world.client.get(location)
    assert shown.status_code == 200
    assert f"Case {case_id}: Provisioning failed" in shown.text
    assert "It says failed.\nWhat now?" in shown.text
    assert "waiting for support" in shown.text
    assert "VpcLimitExceeded" in shown.text  # the snapshot: the tenant's last error
    assert "Diagnosis now" not in shown.text  # the diagnosis is for support

    csrf = sign_in(world, "sam@provider.example")
    queue = world.client.get("/support/cases")
    assert f'href="/support/cases/{case_id}"' in queue.text
    case_page = world.client.get(f"/support/cases/{case_id}")
    assert "Diagnosis now" in case_page.text
    assert "an AWS service quota is reached" in case_page.text  # diagnose's next step
    answered = world.client.post(
        f"/support/cases/{case_id}/messages",
        data={"csrf_token": csrf, "body": "Quota raised; retrying."},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert answered.headers["location"] == f"/support/cases/{case_id}#latest"
    empty = world.client.post(
        f"/support/cases/{case_id}/messages", data={"csrf_token": csrf, "body": ""}
    )
    assert empty.status_code == 422 and "body" in empty.text

    sign_in(world, "ana@acme.example")
    mine = world.client.get(location)
    assert "Quota raised; retrying." in mine.text and "waiting for you" not in mine.text
    listing = world.client.get("/tenants/acme/cases")
    assert "Provisioning failed" in listing.text and "waiting for you" in listing.text
    # The tenant's navigation leads there from its other pages.
    assert 'href="/tenants/acme/cases"' in world.client.get("/tenants/acme").text


def test_bad_case_forms_are_shown_again_naming_the_field(fleet: World) -> None:
    world = fleet
    csrf = sign_in(world, "ana@acme.example")
    for fields, message in (
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"tenant_id": "globex"}, "tenant: choose one of your tenants"),
        ({"origin": "https://evil.example/"}, "page: a path of this site"),
    ):
        response = world.client.post(
            "/support/new",
            data={"csrf_token": csrf, "tenant_id": "acme", "subject": "s", "body": "b"}
            | {"origin": "/"}
            | fields,
        )
        assert response.status_code == 422, fields
        assert message in response.text, (fields, response.text)
    assert world.client.get("/tenants/acme/cases").text.count("/tenants/acme/cases/") == 0


def test_another_tenants_cases_and_the_staff_pages_are_closed_to_customers(
    fleet: World,
) -> None:
    world = fleet
    csrf = sign_in(world, "ana@acme.example")
    location = _open_case(world, csrf, subject="Private matter")
    case_id = location.rsplit("/", 1)[1]
    sign_in(world, "bob@globex.example")
    for path in (location, f"/tenants/globex/cases/{case_id}", "/tenants/acme/cases"):
        response = world.client.get(path)
        assert response.status_code == 404, path
        assert "Private matter" not in response.text
    for path in ("/support/cases", f"/support/cases/{case_id}", "/operator", "/operator/audit"):
        response = world.client.get(path)
        assert response.status_code == 403, path
        assert "Private matter" not in response.text and "acme" not in response.text


def test_an_operator_filters_the_fleet_and_retries_the_failed_job(fleet: World) -> None:
    world = fleet
    csrf = sign_in(world, "olga@provider.example")
    everything = world.client.get("/operator")
    assert "2 tenants match" in everything.text
    failing = world.client.get("/operator?failing=1")
    assert "1 tenant matches" in failing.text
    assert 'href="/operator/tenants/acme"' in failing.text
    assert 'href="/operator/tenants/globex"' not in failing.text
    searched = world.client.get("/operator?q=glob&region=us-east-1&state=active")
    assert (
        'href="/operator/tenants/globex"' in searched.text and "1 tenant matches" in searched.text
    )
    bad = world.client.get("/operator?state=sleeping")
    assert bad.status_code == 422 and "state: &#39;sleeping&#39; is not one of" in bad.text

    detail = world.client.get("/operator/tenants/acme")
    assert "Diagnosis now" in detail.text and "VpcLimitExceeded" in detail.text
    job = re.search(r'action="/operator/jobs/(\d+)/retry"', detail.text)
    assert job, detail.text
    retried = world.client.post(
        f"/operator/jobs/{job.group(1)}/retry",
        data={"csrf_token": csrf, "tenant_id": "acme"},
        follow_redirects=False,
    )
    assert retried.status_code == 303
    assert retried.headers["location"] == "/operator/tenants/acme"
    after = world.client.get("/operator/tenants/acme")
    assert f"Job {job.group(1)} is retried as job" in after.text
    assert f"(retry of {job.group(1)})" in after.text
    assert 'action="/operator/jobs/' not in after.text  # nothing left to retry
    again = world.client.post(
        f"/operator/jobs/{job.group(1)}/retry",
        data={"csrf_token": csrf, "tenant_id": "acme"},
    )
    assert "was already retried as job" in again.text
    world.run_jobs()
    assert world.context.tenants.show("acme").state == "active"


def test_suspend_and_resume_need_a_reason_and_land_in_the_audit_log(fleet: World) -> None:
    world = fleet
    csrf = sign_in(world, "olga@provider.example")
    missing = world.client.post(
        "/operator/tenants/globex/suspend", data={"csrf_token": csrf, "reason": " "}
    )
    assert "reason" in missing.text and world.context.tenants.show("globex").state == "active"
    suspended = world.client.post(
        "/operator/tenants/globex/suspend", data={"csrf_token": csrf, "reason": "abuse report 42"}
    )
    assert suspended.status_code == 200 and "suspend: abuse report 42" in suspended.text
    world.run_jobs()
    page = world.client.get("/operator/tenants/globex")
    assert 'action="/operator/tenants/globex/resume"' in page.text
    audit = world.client.get("/operator/audit?tenant=globex")
    assert "olga@provider.example" in audit.text and "abuse report 42" in audit.text
    by_actor = world.client.get("/operator/audit?actor=nobody")
    assert "Nothing recorded for this filter" in by_actor.text
    bad = world.client.get("/operator/audit?tenant=NOT_AN_ID")
    assert bad.status_code == 422


def test_support_sees_the_console_but_cannot_retry_or_suspend(fleet: World) -> None:
    world = fleet
    csrf = sign_in(world, "sam@provider.example")
    detail = world.client.get("/operator/tenants/acme")
    assert detail.status_code == 200
    assert "/retry" not in detail.text and "/suspend" not in detail.text
    jobs = world.context.tenants.history("acme")
    job_id = next(op.job_id for op in jobs if op.job_id)
    refused = world.client.post(f"/operator/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert refused.status_code == 403
    refused = world.client.post(
        "/operator/tenants/acme/suspend", data={"csrf_token": csrf, "reason": "x"}
    )
    assert refused.status_code == 403
