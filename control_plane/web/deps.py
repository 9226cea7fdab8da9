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

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from components.spec import TENANT_ID_PATTERN
from control_plane.accounts import credentials
from control_plane.accounts.errors import AuthenticationError, ForbiddenError, NotFoundError
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, PlatformRole, Role
from control_plane.accounts.service import AccountService
from control_plane.billing.invoice_book import InvoiceBook
from control_plane.billing.self_service import SelfServiceBilling
from control_plane.registry.database import Database
from control_plane.service import TenantService
from control_plane.web.checkout import Checkout

SESSION_COOKIE = "tenants_session"
CSRF_HEADER = "X-CSRF-Token"
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

    @property
    def secure_cookies(self) -> bool:
        """Cookies are `Secure` unless the public URL is plain HTTP on a loopback host."""
        url = urlsplit(self.accounts.settings.public_url)
        return not (url.scheme == "http" and url.hostname in {"127.0.0.1", "localhost", "::1"})


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


ContextDep = Annotated[WebContext, Depends(_context)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Bearer tnt_...`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="A browser session (send X-CSRF-Token)"
)


def _principal(
    request: Request,
    context: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    if bearer is not None:
        return context.accounts.principal_for_token(bearer.credentials)
    if session:
        principal = context.accounts.principal_for_session(session)
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not principal.csrf_token or not credentials.same_secret(sent, principal.csrf_token):
                raise ForbiddenError(
                    f"a signed-in browser must send its CSRF token in {CSRF_HEADER}"
                )
        return principal
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
        role = principal.authorize(permission, tenant_id)
        standing = context.accounts.tenant_standing(tenant_id)
        if standing is None:
            raise NotFoundError(f"tenant {tenant_id!r} not found")
        return TenantAccess(tenant_id, role, principal, exists=standing == "registered")

    dependency.__name__ = f"tenant_access_{permission.name.lower()}"
    return dependency


def platform_access(permission: Permission) -> Callable[..., PlatformRole]:
    """A dependency that admits callers whose platform role allows `permission`."""

    def dependency(principal: PrincipalDep) -> PlatformRole:
        return principal.authorize_platform(permission)

    dependency.__name__ = f"platform_access_{permission.name.lower()}"
    return dependency
