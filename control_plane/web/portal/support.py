"""Support pages: "Report a problem" from any page, a tenant's cases and their threads;
for support engineers, the queue of every tenant's cases and each case with the tenant's
diagnosis beside it. The same services, schemas and role table as `/api/v1`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from control_plane.accounts.errors import NotFoundError
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, PlatformRole, allows
from control_plane.registry.support_models import CaseSide, CaseStatus
from control_plane.support.cases import (
    Author,
    CaseStateError,
    CaseView,
    InvalidCaseError,
    SupportService,
)
from control_plane.web.deps import ContextDep, TenantAccess, authorize_tenant
from control_plane.web.portal.auth import PagePrincipal, page_access
from control_plane.web.portal.forms import FormText, parse
from control_plane.web.portal.render import page, redirect
from control_plane.web.routes.tenants import tenant_out
from control_plane.web.schemas import CaseAnswer, NewCase, TenantOut
from control_plane.web.support_deps import SupportDep, author, diagnose

router = APIRouter(include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2_147_483_647)]
LongText = Annotated[str, Form(max_length=10_000)]
PageQuery = Annotated[str, Query(alias="page", max_length=512)]
StatusQuery = Annotated[str, Query(max_length=8, pattern=r"^(open|closed|all)?$")]
TenantQuery = Annotated[str, Query(max_length=20, pattern=r"^[a-z0-9-]*$")]
QUEUE_PAGE = 50


def staff_access(permission: Permission) -> Callable[..., Principal]:
    """The page twin of `deps.platform_access`: a signed-in platform role allowing it."""

    def dependency(principal: PagePrincipal) -> Principal:
        principal.authorize_platform(permission)
        return principal

    dependency.__name__ = f"staff_access_{permission.name.lower()}"
    return dependency


Staff = Annotated[Principal, Depends(staff_access(Permission.CASES_READ))]
Answerer = Annotated[Principal, Depends(staff_access(Permission.CASES_ANSWER))]
Reader = Annotated[TenantAccess, Depends(page_access(Permission.CASES_READ))]
Member = Annotated[TenantAccess, Depends(page_access(Permission.CASES_ANSWER))]


def _openable(principal: Principal) -> list[str]:
    """Tenants the caller may open a case in (through a membership)."""
    return sorted(
        tenant_id
        for tenant_id, role in principal.memberships.items()
        if principal.role_in(tenant_id) is not None and allows(role, Permission.CASES_OPEN)
    )


def _tenant_of(path: str, choices: list[str]) -> str:
    """The tenant a portal path is about (`/tenants/<id>/...`), if it is one of `choices`."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "tenants" and parts[2] in choices:
        return parts[2]
    return choices[0] if len(choices) == 1 else ""


@router.get("/support/new", name="support_case_new")
def new_case_form(request: Request, principal: PagePrincipal, page_path: PageQuery = "/") -> Any:
    choices = _openable(principal)
    return page(
        request,
        "support/new.html",
        principal=principal,
        errors=[],
        choices=choices,
        tenant_id=_tenant_of(page_path, choices),
        subject="",
        body="",
        origin=page_path if page_path.startswith("/") else "/",
    )


@router.post("/support/new")
def open_case(
    request: Request,
    principal: PagePrincipal,
    context: ContextDep,
    support: SupportDep,
    *,
    tenant_id: FormText = "",
    subject: FormText = "",
    body: LongText = "",
    origin: FormText = "/",
) -> Response:
    choices = _openable(principal)
    parsed, errors = parse(NewCase, {"subject": subject, "body": body, "page": origin})
    if tenant_id not in choices:
        errors.insert(0, "tenant: choose one of your tenants")
    if parsed is not None and not errors:
        try:
            access = authorize_tenant(Permission.CASES_OPEN, tenant_id, principal, context)
            case = support.open_case(
                access.tenant_id,
                subject=parsed.subject,
                body=parsed.body,
                page=parsed.page,
                author=author(principal, access.role),
            )
        except (InvalidCaseError, NotFoundError) as error:
            errors = [str(error)]
        else:
            return redirect(
                f"/tenants/{case.tenant_id}/cases/{case.id}",
                notice=f"Case {case.id} is open; support answers in this case.",
            )
    return page(
        request,
        "support/new.html",
        principal=principal,
        status_code=422,
        errors=errors,
        choices=choices,
        tenant_id=tenant_id,
        subject=subject,
        body=body,
        origin=origin,
    )


@router.get("/tenants/{tenant_id}/cases", name="tenant_cases")
def tenant_cases(
    request: Request, access: Reader, support: SupportDep, context: ContextDep
) -> Response:
    cases = support.cases(tenant_id=access.tenant_id, limit=QUEUE_PAGE)
    return page(
        request,
        "support/tenant_cases.html",
        principal=access.principal,
        tenant=tenant_out(context, access),
        section="cases",
        tenant_id=access.tenant_id,
        cases=cases,
    )


def _case_page(
    request: Request,
    principal: Principal,
    case: CaseView,
    *,
    base: str,
    staff: bool,
    can_answer: bool,
    diagnosis: Any = None,
    errors: list[str] | None = None,
    draft: str = "",
    status_code: int = 200,
    tenant: TenantOut | None = None,
) -> Response:
    """The case page; a tenant's own case shows under the tenant's navigation (`tenant`)."""
    return page(
        request,
        "support/case.html",
        principal=principal,
        status_code=status_code,
        tenant=tenant,
        section="cases",
        case=case,
        base=base,
        staff=staff,
        can_answer=can_answer,
        diagnosis=diagnosis,
        errors=errors or [],
        draft=draft,
    )


@router.get("/tenants/{tenant_id}/cases/{case_id}", name="tenant_case")
def tenant_case(
    request: Request, access: Reader, case_id: CaseId, support: SupportDep, context: ContextDep
) -> Response:
    case = support.case(case_id, tenant_id=access.tenant_id)
    return _case_page(
        request,
        access.principal,
        case,
        base=f"/tenants/{access.tenant_id}/cases/{case.id}",
        staff=False,
        can_answer=allows(access.role, Permission.CASES_ANSWER),
        tenant=tenant_out(context, access),
    )


@router.post("/tenants/{tenant_id}/cases/{case_id}/messages")
def answer_tenant_case(
    request: Request,
    access: Member,
    case_id: CaseId,
    support: SupportDep,
    *,
    context: ContextDep,
    body: LongText = "",
) -> Response:
    base = f"/tenants/{access.tenant_id}/cases/{case_id}"
    return _answer(
        request,
        support,
        principal=access.principal,
        case_id=case_id,
        tenant_id=access.tenant_id,
        writer=author(access.principal, access.role),
        body=body,
        base=base,
        tenant=tenant_out(context, access),
    )


@router.post("/tenants/{tenant_id}/cases/{case_id}/close")
def close_tenant_case(access: Member, case_id: CaseId, support: SupportDep) -> Response:
    base = f"/tenants/{access.tenant_id}/cases/{case_id}"
    return _status_change(
        base,
        lambda: support.close(case_id, tenant_id=access.tenant_id, actor=access.principal.actor),
    )


@router.post("/tenants/{tenant_id}/cases/{case_id}/reopen")
def reopen_tenant_case(access: Member, case_id: CaseId, support: SupportDep) -> Response:
    base = f"/tenants/{access.tenant_id}/cases/{case_id}"
    writer = author(access.principal, access.role)
    return _status_change(
        base, lambda: support.reopen(case_id, tenant_id=access.tenant_id, author=writer)
    )


@router.get("/support/cases", name="support_queue")
def support_queue(
    request: Request,
    principal: Staff,
    support: SupportDep,
    status: StatusQuery = "open",
    tenant: TenantQuery = "",
) -> Response:
    wanted = None if status in ("all", "") else CaseStatus(status)
    cases = support.cases(tenant_id=tenant or None, status=wanted, limit=QUEUE_PAGE)
    return page(
        request,
        "support/queue.html",
        principal=principal,
        cases=cases,
        status=status or "all",
        tenant=tenant,
    )


def _staff_author(principal: Principal) -> Author:
    return Author(actor=principal.actor, user_id=principal.user_id, side=CaseSide.SUPPORT)


@router.get("/support/cases/{case_id}", name="support_case")
def support_case(
    request: Request, principal: Staff, case_id: CaseId, support: SupportDep, context: ContextDep
) -> Response:
    case = support.case(case_id, tenant_id=None)
    return _case_page(
        request,
        principal,
        case,
        base=f"/support/cases/{case.id}",
        staff=True,
        can_answer=_staff_answers(principal),
        diagnosis=diagnose(context, case.tenant_id),
    )


def _staff_answers(principal: Principal) -> bool:
    role = principal.platform_role
    return isinstance(role, PlatformRole) and allows(role, Permission.CASES_ANSWER)


@router.post("/support/cases/{case_id}/messages")
def answer_case(
    request: Request,
    principal: Answerer,
    case_id: CaseId,
    support: SupportDep,
    *,
    context: ContextDep,
    body: LongText = "",
) -> Response:
    base = f"/support/cases/{case_id}"
    return _answer(
        request,
        support,
        principal=principal,
        case_id=case_id,
        tenant_id=None,
        writer=_staff_author(principal),
        body=body,
        base=base,
        diagnosis=lambda tenant_id: diagnose(context, tenant_id),
    )


@router.post("/support/cases/{case_id}/close")
def close_case(principal: Answerer, case_id: CaseId, support: SupportDep) -> Response:
    return _status_change(
        f"/support/cases/{case_id}",
        lambda: support.close(case_id, tenant_id=None, actor=principal.actor),
    )


@router.post("/support/cases/{case_id}/reopen")
def reopen_case(principal: Answerer, case_id: CaseId, support: SupportDep) -> Response:
    return _status_change(
        f"/support/cases/{case_id}",
        lambda: support.reopen(case_id, tenant_id=None, author=_staff_author(principal)),
    )


def _answer(
    request: Request,
    support: SupportService,
    *,
    principal: Principal,
    case_id: int,
    tenant_id: str | None,
    writer: Author,
    body: str,
    base: str,
    diagnosis: Callable[[str], Any] | None = None,
    tenant: TenantOut | None = None,
) -> Response:
    """Add the answer and go back to the case; a refusal shows the case with the draft."""
    parsed, errors = parse(CaseAnswer, {"body": body})
    status_code = 422
    if parsed is not None:
        try:
            support.answer(case_id, tenant_id=tenant_id, body=parsed.body, author=writer)
        except InvalidCaseError as error:
            errors = [str(error)]
        except CaseStateError as error:
            errors, status_code = [str(error)], 409
        else:
            return redirect(f"{base}#latest", notice="Your answer is in the case.")
    case = support.case(case_id, tenant_id=tenant_id)
    return _case_page(
        request,
        principal,
        case,
        base=base,
        staff=writer.side is CaseSide.SUPPORT and tenant_id is None,
        can_answer=True,
        diagnosis=diagnosis(case.tenant_id) if diagnosis else None,
        errors=errors,
        draft=body,
        status_code=status_code,
        tenant=tenant,
    )


def _status_change(base: str, change: Callable[[], CaseView]) -> Response:
    try:
        case = change()
    except CaseStateError as error:
        return redirect(base, error=str(error))
    return redirect(base, notice=f"Case {case.id} is {case.status}.")
