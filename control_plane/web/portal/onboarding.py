"""Onboarding: choose an id, a plan (the catalog side by side), a region by residency and
add-ons; then watch the tenant being provisioned until it is active."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from components.plans import PlanName
from control_plane.accounts.roles import Permission
from control_plane.web.deps import ContextDep, TenantAccess
from control_plane.web.portal import catalog
from control_plane.web.portal.auth import PagePrincipal, page_access
from control_plane.web.portal.forms import FormText, parse
from control_plane.web.portal.render import page, redirect
from control_plane.web.portal.tenant_pages import tenant_summary
from control_plane.web.problems import REFUSALS, detail_of, status_of
from control_plane.web.routes.tenants import request_tenant
from control_plane.web.schemas import NewTenant

router = APIRouter(include_in_schema=False)

Reader = Annotated[TenantAccess, Depends(page_access(Permission.TENANT_READ))]


def _form(
    request: Request,
    principal: PagePrincipal,
    values: Mapping[str, object],
    *,
    errors: list[str],
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "onboarding.html",
        principal=principal,
        plans=catalog.plans(),
        features=catalog.plan_features,
        monthly=catalog.monthly,
        regions=catalog.regions(),
        addons=catalog.addons(),
        startable=catalog.ADDONS_WITHOUT_SETTINGS,
        values=values,
        errors=errors,
        status_code=status_code,
    )


@router.get("/onboarding", name="onboarding")
def onboarding_form(request: Request, principal: PagePrincipal) -> Response:
    values = {"tenant_id": "", "display_name": "", "plan": PlanName.FREE.value, "region": ""}
    return _form(request, principal, {**values, "addons": []}, errors=[])


@router.post("/onboarding")
def onboard(
    request: Request,
    principal: PagePrincipal,
    context: ContextDep,
    *,
    tenant_id: FormText,
    plan: FormText,
    region: FormText,
    display_name: Annotated[str, Form(max_length=512)] = "",
    addons: Annotated[list[str] | None, Form(max_length=8)] = None,
) -> Response:
    values = {
        "tenant_id": tenant_id.strip(),
        "display_name": display_name.strip(),
        "plan": plan,
        "region": region,
        "addons": addons or [],
    }
    body, errors = parse(NewTenant, values)
    status_code = 422
    if body is not None:
        try:
            requested = request_tenant(context, principal, body)
        except REFUSALS as error:
            errors, status_code = [detail_of(error)], status_of(error) or 422
        else:
            if requested.checkout_url:
                return redirect(requested.checkout_url)
            return redirect(f"/tenants/{body.tenant_id}/provisioning", notice=requested.message)
    return _form(request, principal, values, errors=errors, status_code=status_code)


@router.get("/tenants/{tenant_id}/provisioning", name="provisioning")
def provisioning(
    request: Request, access: Reader, context: ContextDep, fragment: bool = False
) -> Response:
    """Progress until the tenant is active; the fragment is what the page polls."""
    summary = tenant_summary(context, access)
    return page(
        request,
        "_provisioning.html" if fragment else "provisioning.html",
        principal=access.principal,
        access=access,
        tenant=summary.tenant,
        operations=summary.operations,
        done=summary.tenant.state in ("active", "failed", "retired", "suspended"),
        section="overview",
    )
