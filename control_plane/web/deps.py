"""The typed dependencies every router shares: the context, the principal, tenant access.

Authorization happens here and only here: `TenantAccess` resolves the caller, checks the
(role, action) table for the tenant in the path, and hands the route a tenant id it may
use. Routes query by that id only, so a route cannot reach another tenant's rows, and a
tenant the caller has no role in answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from components.spec import TENANT_ID_PATTERN
from control_plane.accounts import credentials
from control_plane.accounts.errors import AuthenticationError, ForbiddenError, NotFoundError
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, PlatformRole, Role
from control_plane.accounts.service import AccountService
from control_plane.billing.invoice_book import InvoiceBook
from control_plane.billing.self_service import SelfServiceBilling
from control_plane.ops.health import HealthCheck, aws_cloudwatch
from control_plane.registry.database import Database
from control_plane.service import TenantService
from control_plane.web.checkout import Checkout

SESSION_COOKIE = "tenants_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
"""The form field a browser form sends the CSRF token in (scripts send the header)."""
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""The spec's tenant id rule, so a malformed id in a path is refused before any lookup."""


@dataclass(frozen=True)
class WebContext:
    """What the routes work with; built once per app."""

    database: Database
    accounts: AccountService
    tenants: TenantService
    invoices: InvoiceBook
    checkout: Checkout | None
    """The billing system's checkout, when an API key is configured."""
    billing: SelfServiceBilling
    """Plan changes and retirements that billing decides."""

    def health_check(self) -> HealthCheck:
        """Tenant health as `tenantctl health` reads it: alarm states from the sandbox or
        the configured AWS account, or a note saying why they were not read."""
        cloudwatch, reason = aws_cloudwatch(self.tenants.settings.data_dir)
        return HealthCheck(self.database, self.tenants.stacks, cloudwatch, no_aws_reason=reason)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are `Secure` unless the public URL is plain HTTP on a loopback host."""
        url = urlsplit(self.accounts.settings.public_url)
        return not (url.scheme == "http" and url.hostname in {"127.0.0.1", "localhost", "::1"})


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


ContextDep = Annotated[WebContext, Depends(_context)]


def set_session_cookie(response: Response, context: WebContext, session_token: str) -> None:
    """The browser session's cookie: HTTP-only, `SameSite=Lax`, `Secure` off loopback."""
    response.set_cookie(
        SESSION_COOKIE,
        session_token,
        max_age=int(context.accounts.settings.session_lifetime.total_seconds()),
        httponly=True,
        secure=context.secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


_bearer = HTTPBearer(auto_error=False, description="An API token: `Bearer tnt_...`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="A browser session (send X-CSRF-Token)"
)


async def _sent_csrf(request: Request) -> str:
    """The CSRF token an unsafe request sent: the header, or a form post's field."""
    if request.method in _SAFE_METHODS:
        return ""
    sent = request.headers.get(CSRF_HEADER)
    if sent is not None:
        return sent
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette keeps the parsed form, so the route's own Form fields read it again.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


SentCsrf = Annotated[str, Depends(_sent_csrf)]


def session_principal(
    request: Request, context: WebContext, session: str, sent_csrf: str
) -> Principal:
    """The browser session's principal; an unsafe request must carry its CSRF token."""
    principal = context.accounts.principal_for_session(session)
    if request.method not in _SAFE_METHODS and (
        not principal.csrf_token or not credentials.same_secret(sent_csrf, principal.csrf_token)
    ):
        raise ForbiddenError(
            f"a signed-in browser must send its CSRF token ({CSRF_HEADER} header or "
            f"{CSRF_FIELD} form field)"
        )
    return principal


def _principal(
    request: Request,
    context: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
    sent_csrf: SentCsrf,
) -> Principal:
    if bearer is not None:
        return context.accounts.principal_for_token(bearer.credentials)
    if session:
        return session_principal(request, context, session, sent_csrf)
    if request.headers.get("authorization"):
        raise AuthenticationError("the Authorization header must be `Bearer <token>`")
    raise AuthenticationError("sign in or send an API token (`Authorization: Bearer tnt_...`)")


PrincipalDep = Annotated[Principal, Depends(_principal)]

TenantIdPath = Annotated[
    str, Path(pattern=TENANT_ID_PATTERN, max_length=20, description="The tenant's id (slug)")
]
RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="A row id")]


@dataclass(frozen=True)
class TenantAccess:
    """The caller, allowed the route's action in this tenant."""

    tenant_id: str
    role: Role
    principal: Principal
    exists: bool
    """False while the tenant is only claimed (a paid plan waiting for billing)."""


def tenant_access(permission: Permission) -> Callable[..., TenantAccess]:
    """A dependency that admits callers whose role allows `permission` in the path's tenant."""

    def dependency(
        tenant_id: TenantIdPath, principal: PrincipalDep, context: ContextDep
    ) -> TenantAccess:
        return authorize_tenant(permission, tenant_id, principal, context)

    dependency.__name__ = f"tenant_access_{permission.name.lower()}"
    return dependency


def authorize_tenant(
    permission: Permission, tenant_id: str, principal: Principal, context: WebContext
) -> TenantAccess:
    """The check every tenant route and page makes: the role table, then existence."""
    role = principal.authorize(permission, tenant_id)
    standing = context.accounts.tenant_standing(tenant_id)
    if standing is None:
        raise NotFoundError(f"tenant {tenant_id!r} not found")
    return TenantAccess(tenant_id, role, principal, exists=standing == "registered")


def platform_access(permission: Permission) -> Callable[..., PlatformRole]:
    """A dependency that admits callers whose platform role allows `permission`."""

    def dependency(principal: PrincipalDep) -> PlatformRole:
        return principal.authorize_platform(permission)

    dependency.__name__ = f"platform_access_{permission.name.lower()}"
    return dependency
