"""The signed-in start page: the caller's tenants and their state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from control_plane.web.deps import ContextDep
from control_plane.web.portal.auth import PagePrincipal
from control_plane.web.portal.render import page
from control_plane.web.routes.tenants import member_tenants

router = APIRouter(include_in_schema=False)


@router.get("/", name="home")
def home(request: Request, principal: PagePrincipal, context: ContextDep) -> Response:
    tenants = member_tenants(principal, context)
    return page(request, "home.html", principal=principal, tenants=tenants)
