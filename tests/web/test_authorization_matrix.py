"""The authorization matrix, generated from the role table: every caller (each tenant and
platform role, a read-only token, another tenant's owner, no token, a forged, an expired
and a revoked token) against every tenant endpoint, in its own tenant and in another's.

Allowed cells expect the endpoint's own answer (a domain refusal such as 409 still
proves the call was let through); denied cells expect 403 in a tenant the caller belongs
to and 404 in one it does not; bad credentials expect 401. No cell may show another
tenant's data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest

from components.plans import PlanName
from control_plane.accounts.roles import (
    PERMISSIONS,
    Permission,
    PlatformRole,
    Role,
    Scope,
    TenantRole,
)
from tests.web.web_helpers import PASSWORD, SmtpSink, World, auth, make_world

API = "/api/v1"
HOME, OTHER = "acme", "globex"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    """`{tenant}` and `{member}` are filled in per cell."""
    permission: Permission
    allowed_status: int
    """The answer once authorization passed (the tenants are paid and still pending)."""
    body: object = None
    platform: bool = False
    """A fleet-wide action: not about one tenant."""


ENDPOINTS = [
    Endpoint("tenant", "GET", "/tenants/{tenant}", Permission.TENANT_READ, 200),
    Endpoint("spec", "GET", "/tenants/{tenant}/spec", Permission.TENANT_READ, 200),
    Endpoint("resources", "GET", "/tenants/{tenant}/resources", Permission.TENANT_READ, 200),
    Endpoint("patch-spec", "PATCH", "/tenants/{tenant}/spec", Permission.SPEC_UPDATE, 202, {}),
    Endpoint("retire", "DELETE", "/tenants/{tenant}", Permission.TENANT_RETIRE, 409),
    Endpoint(
        "plan-change",
        "POST",
        "/tenants/{tenant}/plan",
        Permission.PLAN_CHANGE,
        409,
        {"plan": "pro"},
    ),
    Endpoint("suspend", "POST", "/tenants/{tenant}/suspend", Permission.TENANT_SUSPEND, 409),
    Endpoint("resume", "POST", "/tenants/{tenant}/resume", Permission.TENANT_SUSPEND, 409),
    Endpoint("operations", "GET", "/tenants/{tenant}/operations", Permission.OPERATIONS_READ, 200),
    Endpoint("invoices", "GET", "/tenants/{tenant}/invoices", Permission.INVOICES_READ, 200),
    Endpoint(
        "invoice",
        "GET",
        "/tenants/{tenant}/invoices/INV-202610-0001",
        Permission.INVOICES_READ,
        404,
    ),
    Endpoint("members", "GET", "/tenants/{tenant}/members", Permission.MEMBERS_READ, 200),
    Endpoint("invitations", "GET", "/tenants/{tenant}/invitations", Permission.MEMBERS_READ, 200),
    Endpoint("audit", "GET", "/tenants/{tenant}/audit", Permission.AUDIT_READ, 200),
    Endpoint(
        "invite",
        "POST",
        "/tenants/{tenant}/invitations",
        Permission.MEMBERS_MANAGE,
        201,
        {"email": "guest@example.com", "role": "viewer"},
    ),
    Endpoint(
        "change-role",
        "PATCH",
        "/tenants/{tenant}/members/{member}",
        Permission.MEMBERS_MANAGE,
        200,
        {"role": "viewer"},
    ),
    Endpoint(
        "unlock", "POST", "/users/{member}/unlock", Permission.USERS_UNLOCK, 200, platform=True
    ),
    Endpoint("cases", "GET", "/tenants/{tenant}/cases", Permission.CASES_READ, 200),
    Endpoint(
        "open-case",
        "POST",
        "/tenants/{tenant}/cases",
        Permission.CASES_OPEN,
        201,
        {"subject": "Help", "body": "Something is off"},
    ),
    Endpoint("case", "GET", "/tenants/{tenant}/cases/{case}", Permission.CASES_READ, 200),
    Endpoint(
        "answer-case",
        "POST",
        "/tenants/{tenant}/cases/{case}/messages",
        Permission.CASES_ANSWER,
        201,
        {"body": "More detail"},
    ),
    Endpoint("jobs", "GET", "/tenants/{tenant}/jobs", Permission.OPERATIONS_READ, 200),
    Endpoint("fleet", "GET", "/fleet", Permission.FLEET_READ, 200, platform=True),
    Endpoint("fleet-audit", "GET", "/audit", Permission.AUDIT_READ, 200, platform=True),
    Endpoint("all-cases", "GET", "/cases", Permission.CASES_READ, 200, platform=True),
    Endpoint("support-case", "GET", "/cases/{case}", Permission.CASES_READ, 200, platform=True),
    Endpoint(
        "support-answer",
        "POST",
        "/cases/{case}/messages",
        Permission.CASES_ANSWER,
        201,
        {"body": "We are on it"},
        platform=True,
    ),
    # The tenants' jobs are queued, not failed: a caller let through is refused by the queue.
    Endpoint("retry-job", "POST", "/jobs/{job}/retry", Permission.JOBS_RETRY, 409, platform=True),
]

ROLES: list[Role] = [*TenantRole, *PlatformRole]
BAD_CREDENTIALS = ["anonymous", "forged", "expired", "revoked"]
CALLERS = [r.value for r in ROLES] + ["read-token", "outsider", *BAD_CREDENTIALS]


@dataclass
class Matrix:
    world: World
    tokens: dict[str, str | None]
    viewers: dict[str, int]
    """Tenant -> the id of its viewer (the target of role changes)."""
    cases: dict[str, int]
    """Tenant -> a support case of its own."""
    jobs: dict[str, int]
    """Tenant -> its provision job."""


def _email(caller: str, tenant: str = HOME) -> str:
    return f"{caller}@{tenant}.example"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[Matrix]:
    world = make_world(tmp_path_factory.mktemp("matrix"), sink)
    with world.client:
        viewers: dict[str, int] = {}
        cases: dict[str, int] = {}
        jobs: dict[str, int] = {}
        for tenant, number in ((HOME, 1), (OTHER, 2)):
            owner = _email("owner", tenant)
            world.user(owner)
            created = world.client.post(
                f"{API}/tenants",
                json={"tenant_id": tenant, "plan": "starter", "region": "eu-west-1"},
                headers=auth(world.token(owner)),
            )
            assert created.status_code == 202, created.text
            world.send_checkout(
                tenant, PlanName.STARTER, event_id=f"evt_m{number}", sub=f"sub_m{number}"
            )
            owner_token = world.token(owner)
            case = world.client.post(
                f"{API}/tenants/{tenant}/cases",
                json={"subject": f"{tenant} case", "body": "help"},
                headers=auth(owner_token),
            )
            assert case.status_code == 201, case.text
            cases[tenant] = case.json()["id"]
            jobs[tenant] = world.context.tenants.show(tenant).pending_jobs[0]["id"]
            for role in TenantRole:
                if role is TenantRole.OWNER:
                    continue
                email = _email(role.value, tenant)
                invited = world.client.post(
                    f"{API}/tenants/{tenant}/invitations",
                    json={"email": email, "role": role.value},
                    headers=auth(owner_token),
                )
                assert invited.status_code == 201, invited.text
                member = world.accounts.accept_invitation(
                    world.sink.code(email, "invited"), password=PASSWORD, display_name=role.value
                )
                if role is TenantRole.VIEWER:
                    viewers[tenant] = member.user_id
        tokens: dict[str, str | None] = {
            role.value: world.token(_email(role.value)) for role in TenantRole
        }
        for role in PlatformRole:
            world.user(_email(role.value, "platform"), platform_role=role)
            tokens[role.value] = world.token(_email(role.value, "platform"))
        tokens["read-token"] = world.token(_email("owner"), scope=Scope.READ)
        tokens["outsider"] = world.token(_email("owner", OTHER))
        tokens["anonymous"] = None
        tokens["forged"] = "tnt_" + "A" * 43
        tokens["expired"] = world.token(_email("owner"), lifetime=timedelta(minutes=5))
        revoked = world.token(_email("owner"))
        tokens["revoked"] = revoked
        mine = world.client.get(f"{API}/tokens", headers=auth(revoked)).json()
        world.client.delete(f"{API}/tokens/{mine[-1]['id']}", headers=auth(revoked))
        yield Matrix(world, tokens, viewers, cases, jobs)
    world.database.dispose()


def _role_of(caller: str, tenant: str) -> Role | None:
    if caller == "read-token":
        return TenantRole.OWNER if tenant == HOME else None
    if caller == "outsider":
        return TenantRole.OWNER if tenant == OTHER else None
    role: Role
    for role in ROLES:
        if role.value == caller:
            if isinstance(role, PlatformRole) or tenant == HOME:
                return role
            return None
    return None


def expected(caller: str, endpoint: Endpoint, tenant: str) -> int:
    """The answer the role table promises for one cell."""
    if caller in BAD_CREDENTIALS:
        return 401
    role = _role_of(caller, HOME if endpoint.platform else tenant)
    if endpoint.platform:
        allowed = isinstance(role, PlatformRole) and endpoint.permission in PERMISSIONS[role]
        return endpoint.allowed_status if allowed else 403
    if role is None:
        return 404
    if endpoint.permission not in PERMISSIONS[role]:
        return 403
    if caller == "read-token" and endpoint.permission.scope is Scope.WRITE:
        return 403
    if endpoint.name == "change-role" and isinstance(role, PlatformRole):
        return 403  # only a tenant's own owners and admins grant its roles
    return endpoint.allowed_status


CELLS = [
    pytest.param(caller, endpoint, tenant, id=f"{caller}-{endpoint.name}-{tenant}")
    for endpoint in ENDPOINTS
    for caller in CALLERS
    for tenant in ((HOME,) if endpoint.platform else (HOME, OTHER))
]


@pytest.mark.parametrize(("caller", "endpoint", "tenant"), CELLS)
def test_cell(matrix: Matrix, caller: str, endpoint: Endpoint, tenant: str) -> None:
    world = matrix.world
    token = matrix.tokens[caller]
    headers = auth(token) if token else {}
    path = endpoint.path.format(
        tenant=tenant,
        member=matrix.viewers[tenant],
        case=matrix.cases[tenant],
        job=matrix.jobs[tenant],
    )
    if endpoint.name == "patch-spec":
        spec = world.context.tenants.show(tenant)
        headers |= {
            "If-Match": f'"{tenant}-v{spec.spec_version}"',
            "Content-Type": "application/merge-patch+json",
        }
    with _later(world, caller):
        response = world.client.request(
            endpoint.method,
            API + path,
            content=None if endpoint.body is None else json.dumps(endpoint.body),
            headers=headers
            | (
                {"Content-Type": "application/json"}
                if endpoint.body and "Content-Type" not in headers
                else {}
            ),
        )
    want = expected(caller, endpoint, tenant)
    assert response.status_code == want, (caller, endpoint.name, tenant, response.text)
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        document = response.json()
        assert set(document) <= {"type", "title", "status", "detail", "errors"}
        other = OTHER if tenant == HOME else HOME
        assert other not in response.text
        if want == 404:
            assert "owner" not in response.text and "example" not in response.text


@contextmanager
def _later(world: World, caller: str) -> Iterator[None]:
    """A day passes for the expired token's cells, and is taken back after."""
    shift = timedelta(days=1) if caller == "expired" else timedelta(0)
    world.clock.advance(shift)
    try:
        yield
    finally:
        world.clock.advance(-shift)


def test_every_role_and_permission_is_in_the_matrix() -> None:
    assert set(PERMISSIONS) == set(ROLES)
    covered = {e.permission for e in ENDPOINTS}
    assert covered == set(Permission)
