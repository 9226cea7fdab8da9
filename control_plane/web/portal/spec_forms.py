"""Pages that change part of the spec share one flow: the form, a preview of what the
change does (the offline plans' create/update/delete counts) with nothing written, then
a confirmation that queues it only on top of the spec version it was previewed from."""

# No `from __future__ import annotations`: the routes are made in a function, and FastAPI
# reads their dependencies from annotations that must be objects, not names to resolve.
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from components.spec import TenantSpec
from control_plane.accounts.roles import Permission
from control_plane.web.deps import ContextDep, TenantAccess, WebContext
from control_plane.web.portal.auth import page_access
from control_plane.web.portal.forms import FormError
from control_plane.web.portal.render import page, redirect
from control_plane.web.problems import REFUSALS, ProblemError, detail_of, status_of
from control_plane.web.routes.tenants import tenant_out

_REFUSED: tuple[type[Exception], ...] = (FormError, *REFUSALS)
"""What a form post is answered with its page and the messages for."""
Editor = Annotated[TenantAccess, Depends(page_access(Permission.SPEC_UPDATE))]
Version = Annotated[int, Form(ge=0, le=2_147_483_647)]
MAX_FIELD = 8192
"""Longest value a spec form field keeps."""


@dataclass(frozen=True)
class SpecForm:
    """One page editing part of the spec, served at `/tenants/{tenant_id}/<section>`."""

    section: str
    """The path segment, the route names' middle and the tenant navigation's key."""
    title: str
    """What the page is called in links back to it, e.g. `the settings`."""
    template: str
    reason: str
    """The reason recorded with the queued change."""
    fields: tuple[str, ...]
    form_values: Callable[[TenantSpec], dict[str, str]]
    """The form's fields for the current desired spec."""
    to_patch: Callable[[dict[str, str]], dict[str, Any]]
    """The merge patch the fields ask for; `FormError` names what does not parse."""
    page_values: Callable[[TenantSpec], dict[str, Any]]
    """What else the page's template shows for the current spec (defaults, the catalog)."""


def existing_tenant(access: TenantAccess) -> str:
    if not access.exists:
        raise ProblemError(
            409, f"tenant {access.tenant_id!r} is waiting for billing; no settings yet"
        )
    return access.tenant_id


def _spec(context: WebContext, tenant_id: str) -> TenantSpec:
    return TenantSpec.model_validate(context.tenants.show(tenant_id).spec)


def add_spec_form(router: APIRouter, form: SpecForm) -> None:
    """The form's page, its preview and its confirmation on `router`."""
    path = f"/tenants/{{tenant_id}}/{form.section}"

    def form_page(
        request: Request,
        access: TenantAccess,
        context: WebContext,
        values: dict[str, str],
        *,
        errors: list[str],
        status_code: int = 200,
    ) -> Response:
        spec = _spec(context, access.tenant_id)
        return page(
            request,
            form.template,
            principal=access.principal,
            access=access,
            tenant=tenant_out(context, access),
            values=values,
            errors=errors,
            status_code=status_code,
            section=form.section,
            **form.page_values(spec),
        )

    def refused(
        request: Request,
        access: TenantAccess,
        context: WebContext,
        values: dict[str, str],
        error: Exception,
    ) -> Response:
        if isinstance(error, FormError):
            return form_page(
                request, access, context, values, errors=error.problems, status_code=422
            )
        return form_page(
            request,
            access,
            context,
            values,
            errors=detail_of(error).splitlines(),
            status_code=status_of(error) or 422,
        )

    async def read_values(request: Request) -> dict[str, str]:
        # A field sent more than once (a group of checkboxes) is kept comma-joined.
        sent = await request.form()
        values = {}
        for name in form.fields:
            texts = [v for v in sent.getlist(name) if isinstance(v, str)]
            values[name] = ",".join(texts)[:MAX_FIELD]
        return values

    form_values = Annotated[dict[str, str], Depends(read_values)]

    def show(request: Request, access: Editor, context: ContextDep) -> Response:
        values = form.form_values(_spec(context, existing_tenant(access)))
        return form_page(request, access, context, values, errors=[])

    def preview(
        request: Request, access: Editor, context: ContextDep, values: form_values
    ) -> Response:
        """What the change would do (offline plans), with a button that queues it."""
        tenant_id = existing_tenant(access)
        try:
            preview = context.tenants.preview_update(tenant_id, form.to_patch(values))
        except _REFUSED as error:
            return refused(request, access, context, values, error)
        return page(
            request,
            "spec_preview.html",
            principal=access.principal,
            access=access,
            tenant=tenant_out(context, access),
            preview=preview,
            values=values,
            form_path=f"/tenants/{tenant_id}/{form.section}",
            form_title=form.title,
            section=form.section,
        )

    def apply(
        request: Request,
        access: Editor,
        context: ContextDep,
        values: form_values,
        spec_version: Version,
    ) -> Response:
        """Queue the previewed change, only on top of the version it was previewed from."""
        tenant_id = existing_tenant(access)
        try:
            accepted = context.tenants.update(
                tenant_id,
                form.to_patch(values),
                actor=access.principal.actor,
                reason=form.reason,
                expected_version=spec_version,
            )
        except _REFUSED as error:
            return refused(request, access, context, values, error)
        if accepted.job_id is None:
            return redirect(f"/tenants/{tenant_id}/{form.section}", notice=accepted.message)
        return redirect(
            f"/tenants/{tenant_id}/operations", notice=f"Change queued: {accepted.message}"
        )

    name = f"tenant_{form.section}"
    router.add_api_route(path, show, methods=["GET"], name=name)
    router.add_api_route(f"{path}/preview", preview, methods=["POST"], name=f"{name}_preview")
    router.add_api_route(path, apply, methods=["POST"], name=f"{name}_apply")
