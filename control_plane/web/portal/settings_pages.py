"""Settings within the plan (a preview of what the change does before it is queued) and
the plan page (the catalog with the price difference; paid changes go through billing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from components.plans import PlanName, get_plan
from components.spec import TenantSpec
from control_plane.accounts.roles import Permission
from control_plane.web.checkout import CheckoutError
from control_plane.web.deps import ContextDep, TenantAccess, WebContext
from control_plane.web.portal import catalog, settings_form
from control_plane.web.portal.auth import page_access
from control_plane.web.portal.render import page, redirect
from control_plane.web.problems import REFUSALS, ProblemError, detail_of, status_of
from control_plane.web.routes.tenants import tenant_out

router = APIRouter(include_in_schema=False)

Editor = Annotated[TenantAccess, Depends(page_access(Permission.SPEC_UPDATE))]
Reader = Annotated[TenantAccess, Depends(page_access(Permission.TENANT_READ))]
Field = Annotated[str, Form(max_length=8192)]
Version = Annotated[int, Form(ge=0, le=2_147_483_647)]


def _existing(access: TenantAccess) -> str:
    if not access.exists:
        raise ProblemError(
            409, f"tenant {access.tenant_id!r} is waiting for billing; no settings yet"
        )
    return access.tenant_id


def _spec(context: WebContext, tenant_id: str) -> TenantSpec:
    return TenantSpec.model_validate(context.tenants.show(tenant_id).spec)


def _settings_page(
    request: Request,
    access: TenantAccess,
    context: ContextDep,
    values: dict[str, str],
    *,
    errors: list[str],
    status_code: int = 200,
) -> Response:
    spec = _spec(context, access.tenant_id)
    return page(
        request,
        "settings.html",
        principal=access.principal,
        access=access,
        tenant=tenant_out(context, access),
        values=values,
        defaults=settings_form.defaults(spec),
        formats=settings_form,
        errors=errors,
        status_code=status_code,
        section="settings",
    )


async def _values(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {}
    for name in settings_form.FIELDS:
        value = form.get(name, "")
        values[name] = value[:8192] if isinstance(value, str) else ""
    return values


FormValues = Annotated[dict[str, str], Depends(_values)]


@router.get("/tenants/{tenant_id}/settings", name="tenant_settings")
def settings(request: Request, access: Editor, context: ContextDep) -> Response:
    values = settings_form.form_values(_spec(context, _existing(access)))
    return _settings_page(request, access, context, values, errors=[])


@router.post("/tenants/{tenant_id}/settings/preview", name="tenant_settings_preview")
def preview(request: Request, access: Editor, context: ContextDep, values: FormValues) -> Response:
    """What the change would do (offline plans), with a button that queues it."""
    tenant_id = _existing(access)
    try:
        patch = settings_form.to_patch(values)
        preview = context.tenants.preview_update(tenant_id, patch)
    except settings_form.FormError as error:
        return _settings_page(
            request, access, context, values, errors=error.problems, status_code=422
        )
    except REFUSALS as error:
        return _settings_page(
            request,
            access,
            context,
            values,
            errors=detail_of(error).splitlines(),
            status_code=status_of(error) or 422,
        )
    return page(
        request,
        "settings_preview.html",
        principal=access.principal,
        access=access,
        tenant=tenant_out(context, access),
        preview=preview,
        values=values,
        section="settings",
    )


@router.post("/tenants/{tenant_id}/settings", name="tenant_settings_apply")
def apply(
    request: Request, access: Editor, context: ContextDep, values: FormValues, spec_version: Version
) -> Response:
    """Queue the previewed change, only on top of the version it was previewed from."""
    tenant_id = _existing(access)
    try:
        accepted = context.tenants.update(
            tenant_id,
            settings_form.to_patch(values),
            actor=access.principal.actor,
            reason="settings changed in the portal",
            expected_version=spec_version,
        )
    except settings_form.FormError as error:
        return _settings_page(
            request, access, context, values, errors=error.problems, status_code=422
        )
    except REFUSALS as error:
        return _settings_page(
            request,
            access,
            context,
            values,
            errors=detail_of(error).splitlines(),
            status_code=status_of(error) or 422,
        )
    if accepted.job_id is None:
        return redirect(f"/tenants/{tenant_id}/settings", notice=accepted.message)
    return redirect(f"/tenants/{tenant_id}/operations", notice=f"Change queued: {accepted.message}")


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
        checkout=context.checkout is not None and tenant.plan == PlanName.FREE.value,
        section="plan",
    )


@router.post("/tenants/{tenant_id}/plan", name="tenant_plan_change")
def change_plan(access: Editor, context: ContextDep, plan: Annotated[PlanName, Form()]) -> Response:
    """A free tenant upgrades through the billing system's checkout; the subscription it
    starts changes the plan when billing confirms it (never here)."""
    tenant = tenant_out(context, access)
    if context.checkout is None or tenant.plan != PlanName.FREE.value or plan is PlanName.FREE:
        return redirect(
            f"/tenants/{access.tenant_id}/plan",
            error="Plan changes go through billing: change the subscription and the tenant "
            "follows it.",
        )
    try:
        started = context.checkout.start(
            tenant_id=access.tenant_id,
            plan=plan,
            region=tenant.region or "",
            user_id=access.principal.user_id,
            email=access.principal.email,
        )
    except CheckoutError as error:
        return redirect(f"/tenants/{access.tenant_id}/plan", error=str(error))
    return redirect(started.url)
