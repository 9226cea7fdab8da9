"""Rendering pages: one Jinja2 environment (autoescaped), the context every page gets,
and flash messages carried across a POST-redirect-GET in a short-lived cookie."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.routing import NoMatchFound

from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, allows
from control_plane.web.deps import CSRF_FIELD
from control_plane.web.portal.auth import FORM_COOKIE

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "tenants_flash"
FLASH_KINDS = ("notice", "error")
_FLASH_MAX = 300
SUPPORT_ROUTE = "support_case_new"
"""The route name of the support case form; every page links to it when it is served."""

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _support_url(request: Request, *, with_page: bool) -> str | None:
    try:
        path = str(request.app.url_path_for(SUPPORT_ROUTE))
    except NoMatchFound:
        return None
    return f"{path}?page={quote(request.url.path, safe='/')}" if with_page else path


def _flash(request: Request) -> tuple[str, str] | None:
    kind, _, message = unquote(request.cookies.get(FLASH_COOKIE, "")).partition(":")
    return (kind, message[:_FLASH_MAX]) if kind in FLASH_KINDS else None


def page(
    request: Request,
    template: str,
    *,
    principal: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """The page `template` with the shared context; shows and clears a pending flash."""

    def can(permission: str, tenant_id: str) -> bool:
        if principal is None:
            return False
        role = principal.role_in(tenant_id)
        return role is not None and allows(role, Permission(permission))

    flash = _flash(request)
    form_token = request.cookies.get(FORM_COOKIE, "")
    fresh = not 32 <= len(form_token) <= 64
    if fresh:
        form_token = secrets.token_urlsafe(32)
    html = environment.get_template(template).render(
        request=request,
        principal=principal,
        csrf_field=CSRF_FIELD,
        csrf_token=principal.csrf_token if principal else None,
        form_token=form_token,
        flash=flash,
        # Cases are opened by signed-in members; an error page does not echo the path it
        # refused (another tenant's ids stay out of it).
        support_url=(
            _support_url(request, with_page=status_code < 400) if principal is not None else None
        ),
        can=can,
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    if fresh:
        response.set_cookie(
            FORM_COOKIE,
            form_token,
            httponly=True,
            secure=request.app.state.web.secure_cookies,
            samesite="lax",
            path="/",
        )
    return response


def redirect(url: str, *, notice: str | None = None, error: str | None = None) -> RedirectResponse:
    """303 to `url` (the POST-redirect-GET step), with a message for the next page."""
    response = RedirectResponse(url, status_code=303)
    for kind, message in (("notice", notice), ("error", error)):
        if message:
            response.set_cookie(
                FLASH_COOKIE,
                quote(f"{kind}:{message[:_FLASH_MAX]}"),
                max_age=60,
                httponly=True,
                samesite="lax",
                path="/",
            )
    return response
