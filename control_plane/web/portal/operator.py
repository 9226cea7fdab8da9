"""The operator console: the fleet table with filters and search, a tenant's page with its
history, jobs, cases and diagnosis, retrying a failed job, suspending and resuming with a
reason, and the audit log. Platform roles only; each action asks the role table, as the
API does."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from components.plans import PlanName
from components.spec import SUPPORTED_REGIONS, TENANT_ID_PATTERN
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, PlatformRole, allows
from control_plane.ops.console import FleetFilter
from control_plane.queue.jobs import JobNotFoundError, JobNotRetryableError
from control_plane.registry.lifecycle import TenantState, TransitionError
from control_plane.web.deps import ContextDep, TenantIdPath, authorize_tenant
from control_plane.web.portal.auth import PagePrincipal
from control_plane.web.portal.forms import FormText, parse
from control_plane.web.portal.render import page, redirect
from control_plane.web.portal.support import staff_access
from control_plane.web.schemas import Reason
from control_plane.web.support_deps import ConsoleDep, SupportDep, diagnose

router = APIRouter(include_in_schema=False)

FLEET_PAGE = 50
AUDIT_PAGE = 50
JobId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Offset = Annotated[int, Query(ge=0, le=10_000)]
Choice = Annotated[str, Query(max_length=32)]
SearchQuery = Annotated[str, Query(max_length=20)]
ActorQuery = Annotated[str, Query(max_length=128)]
Viewer = Annotated[Principal, Depends(staff_access(Permission.FLEET_READ))]
Auditor = Annotated[Principal, Depends(staff_access(Permission.AUDIT_READ))]
Retrier = Annotated[Principal, Depends(staff_access(Permission.JOBS_RETRY))]
TENANT_ID_MATCH = re.compile(TENANT_ID_PATTERN).fullmatch
STATES = [s.value for s in TenantState]
PLANS = [p.value for p in PlanName]


def _allowed(principal: Principal, permission: Permission) -> bool:
    role = principal.platform_role
    return isinstance(role, PlatformRole) and allows(role, permission)


def _choice(name: str, value: str, allowed: list[str], errors: list[str]) -> str | None:
    """A filter's value, if it is one of `allowed` (empty: no filter)."""
    if not value:
        return None
    if value not in allowed:
        errors.append(f"{name}: {value[:32]!r} is not one of {', '.join(allowed)}")
        return None
    return value


@router.get("/operator", name="operator_fleet")
def fleet(
    request: Request,
    principal: Viewer,
    console: ConsoleDep,
    *,
    state: Choice = "",
    plan: Choice = "",
    region: Choice = "",
    failing: Choice = "",
    q: SearchQuery = "",
    offset: Offset = 0,
) -> Response:
    errors: list[str] = []
    wanted = FleetFilter(
        state=_choice("state", state, STATES, errors),
        plan=_choice("plan", plan, PLANS, errors),
        region=_choice("region", region, list(SUPPORTED_REGIONS), errors),
        failing=failing == "1",
        search=q.strip() or None,
    )
    result = console.fleet(wanted, limit=FLEET_PAGE, offset=offset)
    query = {"state": state, "plan": plan, "region": region, "failing": failing, "q": q}
    return page(
        request,
        "operator/fleet.html",
        principal=principal,
        status_code=422 if errors else 200,
        errors=errors,
        rows=result.rows,
        total=result.total,
        offset=offset,
        next_offset=offset + FLEET_PAGE if offset + FLEET_PAGE < result.total else None,
        query={k: v for k, v in query.items() if v},
        states=STATES,
        plans=PLANS,
        regions=list(SUPPORTED_REGIONS),
        values=query,
    )


@router.get("/operator/tenants/{tenant_id}", name="operator_tenant")
def tenant(
    request: Request,
    tenant_id: TenantIdPath,
    principal: PagePrincipal,
    context: ContextDep,
    *,
    console: ConsoleDep,
    support: SupportDep,
) -> Response:
    # The tenant first, as on every tenant page: a tenant the caller has no role in is
    # not found; then the console is for platform roles only.
    access = authorize_tenant(Permission.TENANT_READ, tenant_id, principal, context)
    principal.authorize_platform(Permission.FLEET_READ)
    registered = access.exists
    return page(
        request,
        "operator/tenant.html",
        principal=principal,
        tenant_id=tenant_id,
        view=context.tenants.show(tenant_id) if registered else None,
        history=context.tenants.history(tenant_id, limit=20) if registered else [],
        jobs=console.jobs(tenant_id) if registered else [],
        cases=support.cases(tenant_id=tenant_id, limit=20),
        audit=console.audit(tenant_id=tenant_id, limit=20),
        diagnosis=diagnose(context, tenant_id) if registered else None,
        can_retry=_allowed(principal, Permission.JOBS_RETRY),
        can_suspend=_allowed(principal, Permission.TENANT_SUSPEND),
    )


@router.post("/operator/jobs/{job_id}/retry")
def retry_job(
    job_id: JobId, principal: Retrier, context: ContextDep, tenant_id: FormText = ""
) -> Response:
    back = (
        f"/operator/tenants/{tenant_id}"
        if tenant_id and TENANT_ID_MATCH(tenant_id)
        else "/operator"
    )
    try:
        accepted = context.tenants.retry_job(job_id, actor=principal.actor)
    except (JobNotFoundError, JobNotRetryableError, TransitionError) as error:
        return redirect(back, error=str(error))
    return redirect(
        f"/operator/tenants/{accepted.tenant_id}",
        notice=f"Job {job_id} is retried as job {accepted.job_id}; the tenant is {accepted.state}.",
    )


def _suspension(
    tenant_id: str, principal: Principal, context: ContextDep, reason: str, *, suspend: bool
) -> Response:
    back = f"/operator/tenants/{tenant_id}"
    authorize_tenant(Permission.TENANT_SUSPEND, tenant_id, principal, context)
    parsed, errors = parse(Reason, {"reason": reason})
    if parsed is None:
        return redirect(back, error="; ".join(errors))
    verb = "suspend" if suspend else "resume"
    change = context.tenants.suspend if suspend else context.tenants.resume
    try:
        accepted = change(tenant_id, actor=principal.actor, reason=f"{verb}: {parsed.reason}")
    except TransitionError as error:
        return redirect(back, error=str(error))
    return redirect(back, notice=f"{tenant_id}: {accepted.message}")


@router.post("/operator/tenants/{tenant_id}/suspend")
def suspend(
    tenant_id: TenantIdPath, principal: PagePrincipal, context: ContextDep, reason: FormText = ""
) -> Response:
    return _suspension(tenant_id, principal, context, reason, suspend=True)


@router.post("/operator/tenants/{tenant_id}/resume")
def resume(
    tenant_id: TenantIdPath, principal: PagePrincipal, context: ContextDep, reason: FormText = ""
) -> Response:
    return _suspension(tenant_id, principal, context, reason, suspend=False)


@router.get("/operator/audit", name="operator_audit")
def audit(
    request: Request,
    principal: Auditor,
    console: ConsoleDep,
    *,
    tenant: SearchQuery = "",
    actor: ActorQuery = "",
    offset: Offset = 0,
) -> Response:
    errors = (
        [] if not tenant or TENANT_ID_MATCH(tenant) else [f"tenant: {tenant!r} is not a tenant id"]
    )
    entries = (
        []
        if errors
        else console.audit(
            tenant_id=tenant or None,
            actor=actor.strip() or None,
            limit=AUDIT_PAGE + 1,
            offset=offset,
        )
    )
    query = {k: v for k, v in {"tenant": tenant, "actor": actor}.items() if v}
    return page(
        request,
        "operator/audit.html",
        principal=principal,
        status_code=422 if errors else 200,
        errors=errors,
        entries=entries[:AUDIT_PAGE],
        offset=offset,
        next_offset=offset + AUDIT_PAGE if len(entries) > AUDIT_PAGE else None,
        query=query,
        tenant=tenant,
        actor=actor,
    )
