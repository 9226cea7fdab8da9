"""Support cases: a tenant's users open and follow theirs; support engineers see every
tenant's, with the tenant's diagnosis beside the case, and answer in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from control_plane.accounts.roles import Permission, PlatformRole
from control_plane.ops.diagnose import Diagnosis
from control_plane.registry.support_models import CaseSide, CaseStatus
from control_plane.support.cases import Author, CaseSummary, CaseView
from control_plane.web.deps import (
    ContextDep,
    PrincipalDep,
    TenantAccess,
    platform_access,
    tenant_access,
)
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import CaseAnswer, NewCase, Page
from control_plane.web.support_deps import SupportDep, author, diagnose

router = APIRouter(tags=["support"], responses=PROBLEM_RESPONSES)

CaseId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A support case's id")]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
TenantFilter = Annotated[str | None, Query(max_length=20, pattern=r"^[a-z0-9-]+$")]


def _access(permission: Permission) -> Any:
    return Depends(tenant_access(permission))


def _staff(permission: Permission) -> Any:
    return Depends(platform_access(permission))


@dataclass(frozen=True)
class CaseWithDiagnosis:
    case: CaseView
    diagnosis: Diagnosis | None
    """The tenant now (None while it waits for billing)."""


def _page(items: list[CaseSummary], limit: int, offset: int) -> Page[CaseSummary]:
    more = len(items) > limit
    return Page(
        items=items[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


@router.post(
    "/tenants/{tenant_id}/cases",
    status_code=status.HTTP_201_CREATED,
    summary="Open a support case; it records the page and the tenant's state now",
)
def open_case(
    access: Annotated[TenantAccess, _access(Permission.CASES_OPEN)],
    body: NewCase,
    support: SupportDep,
) -> CaseView:
    return support.open_case(
        access.tenant_id,
        subject=body.subject,
        body=body.body,
        page=body.page,
        author=author(access.principal, access.role),
    )


@router.get("/tenants/{tenant_id}/cases", summary="The tenant's cases, open first")
def list_tenant_cases(
    access: Annotated[TenantAccess, _access(Permission.CASES_READ)],
    support: SupportDep,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CaseSummary]:
    items = support.cases(
        tenant_id=access.tenant_id, status=case_status, limit=limit + 1, offset=offset
    )
    return _page(items, limit, offset)


@router.get("/tenants/{tenant_id}/cases/{case_id}", summary="One case with its thread")
def get_tenant_case(
    access: Annotated[TenantAccess, _access(Permission.CASES_READ)],
    case_id: CaseId,
    support: SupportDep,
) -> CaseView:
    return support.case(case_id, tenant_id=access.tenant_id)


@router.post(
    "/tenants/{tenant_id}/cases/{case_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Answer in the case",
)
def answer_tenant_case(
    access: Annotated[TenantAccess, _access(Permission.CASES_ANSWER)],
    case_id: CaseId,
    body: CaseAnswer,
    support: SupportDep,
) -> CaseView:
    return support.answer(
        case_id,
        tenant_id=access.tenant_id,
        body=body.body,
        author=author(access.principal, access.role),
    )


@router.post("/tenants/{tenant_id}/cases/{case_id}/close", summary="Close the case")
def close_tenant_case(
    access: Annotated[TenantAccess, _access(Permission.CASES_ANSWER)],
    case_id: CaseId,
    support: SupportDep,
) -> CaseView:
    return support.close(case_id, tenant_id=access.tenant_id, actor=access.principal.actor)


@router.post("/tenants/{tenant_id}/cases/{case_id}/reopen", summary="Reopen a closed case")
def reopen_tenant_case(
    access: Annotated[TenantAccess, _access(Permission.CASES_ANSWER)],
    case_id: CaseId,
    support: SupportDep,
) -> CaseView:
    return support.reopen(
        case_id, tenant_id=access.tenant_id, author=author(access.principal, access.role)
    )


@router.get("/cases", summary="Every tenant's cases (platform): open first, awaiting support first")
def list_cases(
    _role: Annotated[PlatformRole, _staff(Permission.CASES_READ)],
    support: SupportDep,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
    tenant: TenantFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CaseSummary]:
    items = support.cases(tenant_id=tenant, status=case_status, limit=limit + 1, offset=offset)
    return _page(items, limit, offset)


@router.get("/cases/{case_id}", summary="One case with the tenant's diagnosis beside it (platform)")
def get_case(
    _role: Annotated[PlatformRole, _staff(Permission.CASES_READ)],
    case_id: CaseId,
    support: SupportDep,
    context: ContextDep,
) -> CaseWithDiagnosis:
    case = support.case(case_id, tenant_id=None)
    return CaseWithDiagnosis(case=case, diagnosis=diagnose(context, case.tenant_id))


def _staff_author(principal: PrincipalDep) -> Author:
    return Author(actor=principal.actor, user_id=principal.user_id, side=CaseSide.SUPPORT)


StaffAuthor = Annotated[Author, Depends(_staff_author)]


@router.post(
    "/cases/{case_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Answer in a case (platform)",
)
def answer_case(
    _role: Annotated[PlatformRole, _staff(Permission.CASES_ANSWER)],
    case_id: CaseId,
    body: CaseAnswer,
    staff: StaffAuthor,
    support: SupportDep,
) -> CaseView:
    return support.answer(case_id, tenant_id=None, body=body.body, author=staff)


@router.post("/cases/{case_id}/close", summary="Close a case (platform)")
def close_case(
    _role: Annotated[PlatformRole, _staff(Permission.CASES_ANSWER)],
    case_id: CaseId,
    staff: StaffAuthor,
    support: SupportDep,
) -> CaseView:
    return support.close(case_id, tenant_id=None, actor=staff.actor)


@router.post("/cases/{case_id}/reopen", summary="Reopen a case (platform)")
def reopen_case(
    _role: Annotated[PlatformRole, _staff(Permission.CASES_ANSWER)],
    case_id: CaseId,
    staff: StaffAuthor,
    support: SupportDep,
) -> CaseView:
    return support.reopen(case_id, tenant_id=None, author=staff)
