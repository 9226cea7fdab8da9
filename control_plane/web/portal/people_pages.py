"""Members and invitations of a tenant, and the caller's own API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, TenantRole, assignable_by
from control_plane.web.deps import ContextDep, RowId, TenantAccess, WebContext
from control_plane.web.portal.auth import PagePrincipal, page_access
from control_plane.web.portal.forms import FormText, parse
from control_plane.web.portal.render import page, redirect
from control_plane.web.problems import REFUSALS, detail_of
from control_plane.web.routes.tenants import tenant_out
from control_plane.web.schemas import Invite, NewToken, RoleChange

router = APIRouter(include_in_schema=False)

Reader = Annotated[TenantAccess, Depends(page_access(Permission.MEMBERS_READ))]
Manager = Annotated[TenantAccess, Depends(page_access(Permission.MEMBERS_MANAGE))]
OptionalText = Annotated[str, Form(max_length=512)]


def _members_url(access: TenantAccess) -> str:
    return f"/tenants/{access.tenant_id}/members"


@router.get("/tenants/{tenant_id}/members", name="tenant_members")
def members(request: Request, access: Reader, context: ContextDep) -> Response:
    role = access.principal.memberships.get(access.tenant_id)
    return page(
        request,
        "members.html",
        principal=access.principal,
        access=access,
        tenant=tenant_out(context, access),
        members=context.accounts.members(access.tenant_id),
        invitations=context.accounts.invitations(access.tenant_id),
        assignable=sorted(assignable_by(role)) if role is not None else [],
        roles=list(TenantRole),
        section="members",
    )


@router.post("/tenants/{tenant_id}/invitations", name="tenant_invite")
def invite(access: Manager, context: ContextDep, email: FormText, role: FormText) -> Response:
    body, errors = parse(Invite, {"email": email.strip(), "role": role})
    if body is None:
        return redirect(_members_url(access), error="; ".join(errors))
    try:
        context.accounts.invite(access.principal, access.tenant_id, body.email, body.role)
    except REFUSALS as error:
        return redirect(_members_url(access), error=detail_of(error))
    return redirect(_members_url(access), notice=f"Invitation mailed to {body.email}.")


@router.post("/tenants/{tenant_id}/members/{user_id}/role", name="tenant_member_role")
def change_role(access: Manager, context: ContextDep, user_id: RowId, role: FormText) -> Response:
    body, errors = parse(RoleChange, {"role": role})
    if body is None:
        return redirect(_members_url(access), error="; ".join(errors))
    try:
        member = context.accounts.change_role(
            access.principal, access.tenant_id, user_id, body.role
        )
    except REFUSALS as error:
        return redirect(_members_url(access), error=detail_of(error))
    return redirect(_members_url(access), notice=f"{member.email} is now {member.role}.")


@router.post("/tenants/{tenant_id}/members/{user_id}/remove", name="tenant_member_remove")
def remove(access: Manager, context: ContextDep, user_id: RowId) -> Response:
    try:
        context.accounts.remove_member(access.principal, access.tenant_id, user_id)
    except REFUSALS as error:
        return redirect(_members_url(access), error=detail_of(error))
    return redirect(_members_url(access), notice="Member removed; their tokens for it revoked.")


def _tokens_page(
    request: Request,
    principal: Principal,
    context: WebContext,
    *,
    errors: list[str],
    issued: str | None = None,
    status_code: int = 200,
) -> Response:
    response = page(
        request,
        "tokens.html",
        principal=principal,
        tokens=context.accounts.tokens(principal),
        tenants=sorted(principal.memberships),
        errors=errors,
        issued=issued,
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/account/tokens", name="tokens")
def tokens(request: Request, principal: PagePrincipal, context: ContextDep) -> Response:
    return _tokens_page(request, principal, context, errors=[])


@router.post("/account/tokens", name="token_issue")
def issue(
    request: Request,
    principal: PagePrincipal,
    context: ContextDep,
    *,
    name: FormText,
    scope: FormText,
    expires_in_days: FormText,
    tenant_id: OptionalText = "",
) -> Response:
    """The new token is shown on this response only (never stored in clear)."""
    body, errors = parse(
        NewToken,
        {
            "name": name.strip(),
            "scope": scope,
            "expires_in_days": expires_in_days,
            "tenant_id": tenant_id,
        },
    )
    if body is None:
        return _tokens_page(request, principal, context, errors=errors, status_code=422)
    try:
        raw, _view = context.accounts.issue_token(
            principal,
            name=body.name,
            scope=body.scope,
            tenant_id=body.tenant_id,
            lifetime=timedelta(days=body.expires_in_days),
        )
    except REFUSALS as error:
        return _tokens_page(request, principal, context, errors=[detail_of(error)], status_code=422)
    return _tokens_page(request, principal, context, errors=[], issued=raw, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", name="token_revoke")
def revoke(principal: PagePrincipal, context: ContextDep, token_id: RowId) -> Response:
    try:
        view = context.accounts.revoke_token(principal, token_id)
    except REFUSALS as error:
        return redirect("/account/tokens", error=detail_of(error))
    return redirect("/account/tokens", notice=f"Token {view.name!r} revoked.")
