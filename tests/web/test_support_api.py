"""Support cases, the operator console and job retries through the API: the happy paths,
another tenant's ids answering 404, and bad input as problem documents."""

from __future__ import annotations

from control_plane.accounts.roles import PlatformRole
from control_plane.queue.worker import Worker
from tests.control_plane.control_plane_helpers import FailingRunner
from tests.web.web_helpers import World, auth

API = "/api/v1"


def _tenant(world: World, tenant_id: str, owner: str, region: str = "eu-west-1") -> str:
    world.user(owner)
    token = world.token(owner)
    created = world.client.post(
        f"{API}/tenants", json={"tenant_id": tenant_id, "region": region}, headers=auth(token)
    )
    assert created.status_code == 202, created.text
    return token


def _staff(world: World, email: str, role: PlatformRole) -> str:
    world.user(email, platform_role=role)
    return world.token(email)


def test_a_customer_opens_a_case_and_support_answers_beside_the_diagnosis(world: World) -> None:
    owner = _tenant(world, "acme", "ana@acme.example")
    world.run_jobs()
    opened = world.client.post(
        f"{API}/tenants/acme/cases",
        json={"subject": "Slow pages", "body": "Since noon.", "page": "/portal/tenants/acme"},
        headers=auth(owner),
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["status"], case["awaiting"], case["page"]) == (
        "open",
        "support",
        "/portal/tenants/acme",
    )
    assert case["snapshot"]["plan"] == "free"
    assert [op["action"] for op in case["snapshot"]["operations"]] == ["provision", "create"]

    support = _staff(world, "sam@provider.example", PlatformRole.SUPPORT)
    listed = world.client.get(f"{API}/cases?status=open", headers=auth(support)).json()
    assert [(c["id"], c["tenant_id"], c["messages"]) for c in listed["items"]] == [
        (case["id"], "acme", 1)
    ]
    detail = world.client.get(f"{API}/cases/{case['id']}", headers=auth(support)).json()
    assert detail["case"]["subject"] == "Slow pages"
    assert detail["diagnosis"]["tenant_id"] == "acme"
    assert detail["diagnosis"]["health"]["alarms"] is None  # no AWS here, and it says so
    answered = world.client.post(
        f"{API}/cases/{case['id']}/messages",
        json={"body": "We are on it."},
        headers=auth(support),
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["awaiting"] == "customer"

    mine = world.client.get(f"{API}/tenants/acme/cases/{case['id']}", headers=auth(owner)).json()
    assert [(m["side"], m["author"]) for m in mine["thread"]] == [
        ("customer", "user:ana@acme.example"),
        ("support", "user:sam@provider.example"),
    ]
    closed = world.client.post(f"{API}/tenants/acme/cases/{case['id']}/close", headers=auth(owner))
    assert closed.json()["status"] == "closed"
    again = world.client.post(
        f"{API}/cases/{case['id']}/messages", json={"body": "x"}, headers=auth(support)
    )
    assert again.status_code == 409
    assert again.json()["detail"] == f"case {case['id']} is closed: reopen it to answer"
    reopened = world.client.post(f"{API}/cases/{case['id']}/reopen", headers=auth(support))
    assert (reopened.json()["status"], reopened.json()["awaiting"]) == ("open", "customer")


def test_another_tenants_case_answers_404_and_reveals_nothing(world: World) -> None:
    acme = _tenant(world, "acme", "ana@acme.example")
    globex = _tenant(world, "globex", "bob@globex.example")
    case = world.client.post(
        f"{API}/tenants/acme/cases",
        json={"subject": "Secret subject", "body": "Secret body"},
        headers=auth(acme),
    ).json()
    for method, path in (
        ("GET", f"/tenants/globex/cases/{case['id']}"),
        ("POST", f"/tenants/globex/cases/{case['id']}/close"),
        ("POST", f"/tenants/globex/cases/{case['id']}/reopen"),
        ("GET", f"/tenants/acme/cases/{case['id']}"),
        ("GET", "/tenants/acme/cases"),
    ):
        response = world.client.request(method, API + path, headers=auth(globex))
        assert response.status_code == 404, (path, response.text)
        assert "Secret" not in response.text and "acme.example" not in response.text
    answer = world.client.post(
        f"{API}/tenants/globex/cases/{case['id']}/messages",
        json={"body": "hello"},
        headers=auth(globex),
    )
    assert answer.status_code == 404
    assert (
        world.client.get(f"{API}/tenants/globex/cases", headers=auth(globex)).json()["items"] == []
    )
    # Customers have no fleet-wide view of cases.
    assert world.client.get(f"{API}/cases", headers=auth(acme)).status_code == 403


def test_bad_case_input_is_a_problem_naming_the_field(world: World) -> None:
    owner = _tenant(world, "acme", "ana@acme.example")
    for body, field in (
        ({"subject": "x" * 201, "body": "b"}, "subject"),
        ({"subject": "ok", "body": ""}, "body"),
        ({"subject": "ok", "body": "b", "page": "https://evil.example"}, "page"),
        ({"subject": "ok", "body": "b", "extra": 1}, "extra"),
        ({"subject": "two\nlines", "body": "b"}, "subject"),
    ):
        response = world.client.post(f"{API}/tenants/acme/cases", json=body, headers=auth(owner))
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.json()["detail"]
    listed = world.client.get(f"{API}/tenants/acme/cases", headers=auth(owner)).json()
    assert listed["items"] == []
    assert world.client.get(f"{API}/tenants/acme/cases/0", headers=auth(owner)).status_code == 422


def test_an_operator_filters_the_fleet_and_retries_a_failed_job(world: World) -> None:
    _tenant(world, "acme", "ana@acme.example")
    settings = world.context.tenants.settings
    Worker(world.database, settings, FailingRunner("VpcLimitExceeded", retryable=False)).drain()
    _tenant(world, "globex", "bob@globex.example", region="us-east-1")
    world.run_jobs()
    operator = _staff(world, "olga@provider.example", PlatformRole.OPERATOR)

    failing = world.client.get(f"{API}/fleet?failing=true", headers=auth(operator)).json()
    assert [(r["tenant_id"], r["state"], r["failing_jobs"]) for r in failing["items"]] == [
        ("acme", "failed", 1)
    ]
    searched = world.client.get(f"{API}/fleet?q=glob&region=us-east-1", headers=auth(operator))
    assert [r["tenant_id"] for r in searched.json()["items"]] == ["globex"]
    bad = world.client.get(f"{API}/fleet?state=sleeping", headers=auth(operator))
    assert bad.status_code == 422 and "state" in bad.json()["detail"]

    jobs = world.client.get(f"{API}/tenants/acme/jobs", headers=auth(operator)).json()
    failed = next(j for j in jobs if j["retryable"])
    retried = world.client.post(f"{API}/jobs/{failed['id']}/retry", headers=auth(operator))
    assert retried.status_code == 202, retried.text
    assert retried.json()["state"] == "updating"
    twice = world.client.post(f"{API}/jobs/{failed['id']}/retry", headers=auth(operator))
    assert twice.status_code == 409
    assert twice.json()["detail"].startswith(f"job {failed['id']} was already retried as job ")
    assert world.client.post(f"{API}/jobs/99999/retry", headers=auth(operator)).status_code == 404
    world.run_jobs()
    assert world.context.tenants.show("acme").state == "active"
    history = world.client.get(f"{API}/tenants/acme/operations", headers=auth(operator)).json()
    retry = next(op for op in history["items"] if op["action"] == "retry")
    assert retry["actor"] == "user:olga@provider.example"
    # Support and auditors see the fleet but do not retry.
    support = _staff(world, "sam@provider.example", PlatformRole.SUPPORT)
    refused = world.client.post(f"{API}/jobs/{failed['id']}/retry", headers=auth(support))
    assert refused.status_code == 403


def test_suspend_and_resume_record_the_reason_in_the_audit_log(world: World) -> None:
    _tenant(world, "acme", "ana@acme.example")
    world.run_jobs()
    operator = _staff(world, "olga@provider.example", PlatformRole.OPERATOR)
    suspended = world.client.post(
        f"{API}/tenants/acme/suspend", json={"reason": "abuse report #42"}, headers=auth(operator)
    )
    assert suspended.status_code == 202, suspended.text
    world.run_jobs()
    blank = world.client.post(
        f"{API}/tenants/acme/resume", json={"reason": "  "}, headers=auth(operator)
    )
    assert blank.status_code == 422 and "reason" in blank.json()["detail"]
    resumed = world.client.post(
        f"{API}/tenants/acme/resume", json={"reason": "resolved"}, headers=auth(operator)
    )
    assert resumed.status_code == 202, resumed.text

    audit = world.client.get(f"{API}/audit?tenant=acme", headers=auth(operator)).json()
    requests = [(e["action"], e["actor"], e["detail"]) for e in audit["items"]]
    assert requests[0][:2] == ("resume", "user:olga@provider.example")
    assert "resume: resolved" in requests[0][2]
    assert requests[1][:2] == ("suspend", "user:olga@provider.example")
    assert "suspend: abuse report #42" in requests[1][2]
    owner = world.token("ana@acme.example")
    assert world.client.get(f"{API}/audit", headers=auth(owner)).status_code == 403
