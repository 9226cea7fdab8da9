"""The authenticated caller and what it may do where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from control_plane.accounts.errors import ForbiddenError, NotFoundError
from control_plane.accounts.roles import Permission, PlatformRole, Role, Scope, TenantRole, allows


@dataclass(frozen=True)
class Principal:
    """A signed-in user, through an API token or a browser session."""

    user_id: int
    email: str
    platform_role: PlatformRole | None
    memberships: Mapping[str, TenantRole]
    """Tenant id -> role, for live memberships of tenants that are not being retired."""
    via: Literal["token", "session"]
    scope: Scope
    """`write` for sessions; the token's scope otherwise."""
    token_tenant: str | None = None
    """A tenant-bound token acts in that tenant only."""
    credential_id: int | None = None
    """The token's or the session's row id."""
    csrf_token: str | None = None
    """Sessions only: what unsafe requests must send back."""

    @property
    def actor(self) -> str:
        """The name recorded in the audit log for this caller's changes."""
        return f"user:{self.email}"

    def roles_in(self, tenant_id: str) -> list[Role]:
        """The caller's roles in the tenant (membership first); empty when the tenant must
        look nonexistent."""
        if self.token_tenant is not None and tenant_id != self.token_tenant:
            return []
        roles: list[Role] = []
        if tenant_id in self.memberships:
            roles.append(self.memberships[tenant_id])
        if self.platform_role is not None:
            roles.append(self.platform_role)
        return roles

    def role_in(self, tenant_id: str) -> Role | None:
        roles = self.roles_in(tenant_id)
        return roles[0] if roles else None

    def authorize(self, permission: Permission, tenant_id: str) -> Role:
        """The caller's role that allows `permission` in the tenant.

        A tenant the caller has no role in is reported as not found (never forbidden), so
        another tenant's ids reveal nothing; a known tenant with too little role or scope
        is forbidden.
        """
        roles = self.roles_in(tenant_id)
        if not roles:
            raise NotFoundError(f"tenant {tenant_id!r} not found")
        role = next((r for r in roles if allows(r, permission)), roles[0])
        self._check(permission, role, f"in tenant {tenant_id!r}")
        return role

    def authorize_platform(self, permission: Permission) -> PlatformRole:
        """The caller's platform role, if it allows `permission` (fleet-wide actions)."""
        role = self.platform_role
        if role is None or self.token_tenant is not None:
            raise ForbiddenError(f"{permission.value} needs a platform role")
        self._check(permission, role, "on the platform")
        return role

    def _check(self, permission: Permission, role: Role, where: str) -> None:
        if not allows(role, permission):
            raise ForbiddenError(f"role {role.value!r} may not {permission.value} {where}")
        if permission.scope is Scope.WRITE and self.scope is not Scope.WRITE:
            raise ForbiddenError(f"{permission.value} needs a token with scope 'write'")

    def require_write(self) -> None:
        """For changes to the caller's own account (tokens, sessions)."""
        if self.scope is not Scope.WRITE:
            raise ForbiddenError("this change needs a token with scope 'write'")
