"""Who may do what: the one table of (role, action) every entry point asks.

Tenant roles hold inside the tenants a user is a member of; platform roles (the
provider's staff) hold in every tenant. A token's scope narrows its user's role: a `read`
token can only do what an action marked `read` allows.
"""

from __future__ import annotations

from enum import StrEnum


class TenantRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    BILLING = "billing"
    VIEWER = "viewer"


class PlatformRole(StrEnum):
    OPERATOR = "operator"
    SUPPORT = "support"
    AUDITOR = "auditor"


Role = TenantRole | PlatformRole


class Scope(StrEnum):
    """What an API token may do at most."""

    READ = "read"
    WRITE = "write"


class Permission(StrEnum):
    """Every action the API authorizes, named `<subject>.<verb>`."""

    TENANT_READ = "tenant.read"
    SPEC_UPDATE = "spec.update"
    TENANT_RETIRE = "tenant.retire"
    OPERATIONS_READ = "operations.read"
    INVOICES_READ = "invoices.read"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    AUDIT_READ = "audit.read"
    """The accounts audit log: invitations, role changes, tokens, revocations."""
    FLEET_READ = "fleet.read"
    TENANT_SUSPEND = "tenant.suspend"
    USERS_UNLOCK = "users.unlock"
    PLAN_CHANGE = "plan.change"
    """Ask billing to bill another plan (the subscription changes, the tenant follows)."""
    JOBS_RETRY = "jobs.retry"
    """Run a failed job again (operators)."""
    CASES_READ = "cases.read"
    """Support cases: a tenant's own, or every tenant's for platform roles."""
    CASES_OPEN = "cases.open"
    CASES_ANSWER = "cases.answer"
    """Write in a case, close it, reopen it."""

    @property
    def scope(self) -> Scope:
        """The token scope the action needs."""
        return Scope.READ if self.value.endswith(".read") else Scope.WRITE


_P = Permission
_TENANT_READS = {_P.TENANT_READ, _P.OPERATIONS_READ, _P.MEMBERS_READ}
# Anyone in a tenant may ask for help and follow the case: a viewer's question matters too.
_CASES = {_P.CASES_READ, _P.CASES_OPEN, _P.CASES_ANSWER}
_SUPPORT_CASES = {_P.CASES_READ, _P.CASES_ANSWER}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    TenantRole.OWNER: frozenset(
        _TENANT_READS
        | _CASES
        | {
            _P.SPEC_UPDATE,
            _P.TENANT_RETIRE,
            _P.INVOICES_READ,
            _P.MEMBERS_MANAGE,
            _P.AUDIT_READ,
            _P.PLAN_CHANGE,
        }
    ),
    TenantRole.ADMIN: frozenset(
        _TENANT_READS
        | _CASES
        | {_P.SPEC_UPDATE, _P.INVOICES_READ, _P.MEMBERS_MANAGE, _P.AUDIT_READ, _P.PLAN_CHANGE}
    ),
    TenantRole.MEMBER: frozenset(_TENANT_READS | _CASES | {_P.SPEC_UPDATE}),
    TenantRole.BILLING: frozenset(_TENANT_READS | _CASES | {_P.INVOICES_READ, _P.PLAN_CHANGE}),
    TenantRole.VIEWER: frozenset(_TENANT_READS | _CASES),
    PlatformRole.OPERATOR: frozenset(
        _TENANT_READS
        | _SUPPORT_CASES
        | {
            _P.INVOICES_READ,
            _P.AUDIT_READ,
            _P.FLEET_READ,
            _P.TENANT_SUSPEND,
            _P.USERS_UNLOCK,
            _P.JOBS_RETRY,
        }
    ),
    PlatformRole.SUPPORT: frozenset(
        _TENANT_READS | _SUPPORT_CASES | {_P.AUDIT_READ, _P.FLEET_READ, _P.USERS_UNLOCK}
    ),
    PlatformRole.AUDITOR: frozenset(
        _TENANT_READS | {_P.CASES_READ, _P.INVOICES_READ, _P.AUDIT_READ, _P.FLEET_READ}
    ),
}
"""The authorization table: what each role may do."""


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def assignable_by(role: TenantRole) -> frozenset[TenantRole]:
    """The tenant roles a member may grant or take away: only owners touch owners."""
    if role is TenantRole.OWNER:
        return frozenset(TenantRole)
    if allows(role, Permission.MEMBERS_MANAGE):
        return frozenset(TenantRole) - {TenantRole.OWNER}
    return frozenset()
