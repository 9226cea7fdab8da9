"""Settings within the plan (previewed before they are queued, the flow of `spec_forms`)
and the plan page (the catalog with the price difference; paid changes go through billing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from components.plans import PlanName, get_plan
from control_plane.accounts.roles import Permission
from control_plane.web.deps import ContextDep, TenantAccess
from control_plane.web.portal import catalog, settings_form
from control_plane.web.portal.auth import page_access
from control_plane.web.portal.render import page, redirect
from control_plane.web.portal.spec_forms import SpecForm, add_spec_form, existing_tenant
from control_plane.web.problems import REFUSALS, detail_of
from control_plane.web.routes.tenants import tenant_out

router = APIRouter(include_in_schema=False)

Reader = Annotated[TenantAccess, Depends(page_access(Permission.TENANT_READ))]
PlanChanger = Annotated[TenantAccess, Depends(page_access(Permission.PLAN_CHANGE))]

add_spec_form(
    router,
    SpecForm(
        section="settings",
        title="the settings",
        template="settings.html",
        reason="settings changed in the portal",
        fields=settings_form.FIELDS,
        form_values=settings_form.form_values,
        to_patch=settings_form.to_patch,
        page_values=lambda spec: {
            "defaults": settings_form.defaults(spec),
            "formats": settings_form,
        },
    ),
)


@router.get("/tenants/{tenant_id}/plan", name="tenant_plan")
def plan(request: Request, access: Reader, context: ContextDep) -> Response:
    tenant = tenant_out(context, access)
    current = get_plan(tenant.plan)
    return page(
        request,
        "plan.html",
        principal=access.principal,
        access=access,
        tenant=tenant,
        current=current,
        plans=catalog.plans(),
        features=catalog.plan_features,
        monthly=catalog.monthly,
        difference=lambda target: catalog.price_difference(current, target),
        section="plan",
    )


@router.post("/tenants/{tenant_id}/plan", name="tenant_plan_change")
def change_plan(
    access: PlanChanger, context: ContextDep, plan: Annotated[PlanName, Form()]
) -> Response:
    """The API's plan change: billing changes the subscription (a free tenant gets a
    checkout) and the tenant follows billing's event; never changed here."""
    principal = access.principal
    try:
        asked = context.billing.request_plan_change(
            existing_tenant(access),
            plan,
            actor=principal.actor,
            user_id=principal.user_id,
            email=principal.email,
        )
    except REFUSALS as error:
        return redirect(f"/tenants/{access.tenant_id}/plan", error=detail_of(error))
    if asked.checkout_url:
        return redirect(asked.checkout_url)
    return redirect(f"/tenants/{access.tenant_id}/plan", notice=asked.message)
