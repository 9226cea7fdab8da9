"""The operator console's API: the fleet with failing jobs and open cases, a tenant's jobs,
retrying a failed job, and the audit log across the fleet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from components.plans import PlanName
from control_plane.accounts.roles import Permission, PlatformRole
from control_plane.ops.console import AuditEntry, FleetFilter, FleetRow, JobRow
from control_plane.registry.lifecycle import TenantState
from control_plane.web.deps import (
    ContextDep,
    PrincipalDep,
    TenantAccess,
    platform_access,
    tenant_access,
)
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.routes.tenants import request_out
from control_plane.web.schemas import Page, TenantRequestOut
from control_plane.web.support_deps import ConsoleDep

router = APIRouter(tags=["platform"], responses=PROBLEM_RESPONSES)

JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A job's id")]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=10_000, description="Items to skip")]
Search = Annotated[str | None, Query(max_length=20, pattern=r"^[a-z0-9-]*$")]


@router.get("/fleet", summary="The fleet: state, plan, region, last operation, failing jobs, cases")
def fleet(
    _role: Annotated[PlatformRole, Depends(platform_access(Permission.FLEET_READ))],
    console: ConsoleDep,
    *,
    state: TenantState | None = None,
    plan: PlanName | None = None,
    region: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9-]+$")] = None,
    failing: Annotated[bool, Query(description="Only failed tenants or with failing jobs")] = False,
    q: Annotated[Search, Query(description="A part of the tenant id")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[FleetRow]:
    wanted = FleetFilter(
        state=state.value if state else None,
        plan=plan.value if plan else None,
        region=region,
        failing=failing,
        search=q or None,
    )
    page = console.fleet(wanted, limit=limit, offset=offset)
    more = offset + limit < page.total
    return Page(
        items=page.rows, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


@router.get("/tenants/{tenant_id}/jobs", summary="The tenant's newest jobs; failing ones retryable")
def tenant_jobs(
    access: Annotated[TenantAccess, Depends(tenant_access(Permission.OPERATIONS_READ))],
    console: ConsoleDep,
    limit: Limit = 20,
) -> list[JobRow]:
    return console.jobs(access.tenant_id, limit=limit) if access.exists else []


@router.post(
    "/jobs/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a failed job again as a new job (platform)",
)
def retry_job(
    _role: Annotated[PlatformRole, Depends(platform_access(Permission.JOBS_RETRY))],
    job_id: JobId,
    principal: PrincipalDep,
    context: ContextDep,
) -> TenantRequestOut:
    return request_out(context.tenants.retry_job(job_id, actor=principal.actor))


@router.get("/audit", summary="Account events and tenant requests across the fleet, newest first")
def audit(
    _role: Annotated[PlatformRole, Depends(platform_access(Permission.AUDIT_READ))],
    console: ConsoleDep,
    tenant: Annotated[str | None, Query(max_length=20, pattern=r"^[a-z0-9-]+$")] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AuditEntry]:
    rows = console.audit(tenant_id=tenant, actor=actor, limit=limit + 1, offset=offset)
    more = len(rows) > limit
    return Page(
        items=rows[:limit], limit=limit, offset=offset, next_offset=offset + limit if more else None
    )
