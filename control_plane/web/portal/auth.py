"""Who is looking at a page: the browser session (signing in is a redirect away), and the
same tenant authorization as the API (`deps.authorize_tenant`), so another tenant's
pages answer 404 exactly like the API does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from control_plane.accounts import credentials
from control_plane.accounts.errors import AuthenticationError, ForbiddenError
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission
from control_plane.web.deps import (
    SESSION_COOKIE,
    ContextDep,
    SentCsrf,
    TenantAccess,
    TenantIdPath,
    authorize_tenant,
    session_principal,
)

FORM_COOKIE = "tenants_form"
"""Forms of signed-out pages (sign-in, sign-up, ...) echo this cookie's token in their
`csrf_token` field, so another site cannot post them (e.g. sign a browser in as someone
else): a double-submitted token, the session's own CSRF token once signed in."""


class LoginRequired(Exception):
    """The page needs a signed-in browser; the handler redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to see this page")
        self.next_path = next_path


def login_url(next_path: str | None = None) -> str:
    return f"/login?next={quote(next_path, safe='/')}" if next_path else "/login"


def safe_next(next_path: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or a URL)."""
    if next_path and next_path.startswith("/") and not next_path.startswith(("//", "/\\")):
        return next_path
    return "/"


def _signed_in(request: Request, context: ContextDep, sent_csrf: SentCsrf) -> Principal:
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise LoginRequired(request.url.path)
    try:
        return session_principal(request, context, session, sent_csrf)
    except AuthenticationError:
        raise LoginRequired(request.url.path) from None


def maybe_signed_in(request: Request, context: ContextDep) -> Principal | None:
    """The browser's principal, or None when it is not signed in (or its session ended)."""
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    try:
        return context.accounts.principal_for_session(session)
    except AuthenticationError:
        return None


async def _same_site_form(request: Request, sent_csrf: SentCsrf) -> None:
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not credentials.same_secret(sent_csrf, expected):
        raise ForbiddenError(
            "this form was not sent from this site's page, or the page is too old: "
            "reload it and send the form again"
        )


SameSiteForm = Depends(_same_site_form)
"""For the form posts of signed-out pages."""

PagePrincipal = Annotated[Principal, Depends(_signed_in)]
"""A signed-in browser (redirected to sign in otherwise); unsafe requests checked for CSRF."""
MaybePrincipal = Annotated[Principal | None, Depends(maybe_signed_in)]
"""The browser's principal on pages anyone may see (nav shows who is signed in)."""


def page_access(permission: Permission) -> Callable[..., TenantAccess]:
    """The page twin of `deps.tenant_access`: the same check, with a session."""

    def dependency(
        tenant_id: TenantIdPath, principal: PagePrincipal, context: ContextDep
    ) -> TenantAccess:
        return authorize_tenant(permission, tenant_id, principal, context)

    dependency.__name__ = f"page_access_{permission.name.lower()}"
    return dependency
