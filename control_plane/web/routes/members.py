"""A tenant's members and invitations; accepting an invitation."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from control_plane.accounts.roles import Permission
from control_plane.web.deps import ContextDep, RowId, TenantAccess, tenant_access
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import (
    Accept,
    AuditEventOut,
    InvitationOut,
    Invite,
    MemberOut,
    Page,
    RoleChange,
)

router = APIRouter(tags=["members"], responses=PROBLEM_RESPONSES)

Reader = Annotated[TenantAccess, Depends(tenant_access(Permission.MEMBERS_READ))]
Manager = Annotated[TenantAccess, Depends(tenant_access(Permission.MEMBERS_MANAGE))]
Auditor = Annotated[TenantAccess, Depends(tenant_access(Permission.AUDIT_READ))]


@router.get("/tenants/{tenant_id}/members", summary="Current members and their roles")
def list_members(access: Reader, context: ContextDep) -> list[MemberOut]:
    return [
        MemberOut.model_validate(dataclasses.asdict(m))
        for m in context.accounts.members(access.tenant_id)
    ]


@router.patch(
    "/tenants/{tenant_id}/members/{user_id}",
    summary="Change a member's role (the tenant keeps at least one owner)",
)
def change_role(
    access: Manager, user_id: RowId, body: RoleChange, context: ContextDep
) -> MemberOut:
    member = context.accounts.change_role(access.principal, access.tenant_id, user_id, body.role)
    return MemberOut.model_validate(dataclasses.asdict(member))


@router.delete(
    "/tenants/{tenant_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member; their tokens for the tenant are revoked",
)
def remove_member(access: Manager, user_id: RowId, context: ContextDep) -> Response:
    context.accounts.remove_member(access.principal, access.tenant_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tenants/{tenant_id}/invitations", summary="Open invitations")
def list_invitations(access: Reader, context: ContextDep) -> list[InvitationOut]:
    return [
        InvitationOut.model_validate(dataclasses.asdict(i))
        for i in context.accounts.invitations(access.tenant_id)
    ]


@router.post(
    "/tenants/{tenant_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by e-mail (a single-use, expiring code)",
)
def invite(access: Manager, body: Invite, context: ContextDep) -> InvitationOut:
    invitation = context.accounts.invite(access.principal, access.tenant_id, body.email, body.role)
    return InvitationOut.model_validate(dataclasses.asdict(invitation))


@router.post(
    "/invitations/accept",
    summary="Join a tenant with the mailed code (creates the account for a new address)",
)
def accept_invitation(body: Accept, context: ContextDep) -> MemberOut:
    member = context.accounts.accept_invitation(
        body.token, password=body.password, display_name=body.display_name
    )
    return MemberOut.model_validate(dataclasses.asdict(member))


@router.get(
    "/tenants/{tenant_id}/audit",
    summary="Who invited, joined, changed roles, issued or revoked tokens; newest first",
)
def audit(
    access: Auditor,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[AuditEventOut]:
    rows = context.accounts.audit(access.tenant_id, limit=limit + 1, offset=offset)
    items = [AuditEventOut.model_validate(dataclasses.asdict(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )
