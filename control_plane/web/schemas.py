"""Request and response bodies of `/api/v1`. Requests forbid unknown fields and bound
every string, so a typo or an oversized value is refused with the field named."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from components.plans import AddonName, PlanName
from components.spec import TenantId
from control_plane.accounts.roles import Scope, TenantRole

T = TypeVar("T")

Email = Annotated[EmailStr, StringConstraints(max_length=254)]
Password = Annotated[str, StringConstraints(min_length=12, max_length=128)]
"""The length rule is in the schema; the other strength rules are checked by the accounts."""
SecretInput = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A password being checked (sign-in), whatever the policy was when it was set."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MailCode = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUp(Request):
    email: Email
    password: Password
    display_name: Name


class Code(Request):
    token: MailCode
    """The code from the e-mail."""


class EmailOnly(Request):
    email: Email


class NewPassword(Request):
    token: MailCode
    password: Password


class SignIn(Request):
    email: Email
    password: SecretInput
    totp: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    """The authenticator app's current 6-digit code; required once the account enrolled."""


class NewToken(Request):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    scope: Scope = Scope.READ
    tenant_id: TenantId | None = None
    """Bind the token to one tenant (recommended for automation)."""
    expires_in_days: int = Field(default=90, ge=1, le=365)


class NewTenant(Request):
    tenant_id: TenantId
    plan: PlanName = PlanName.FREE
    region: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    display_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    alarm_contacts: list[Email] = Field(default_factory=list, max_length=10)
    """Where the bundle's alarms are mailed (the caller's address when empty)."""
    addons: list[AddonName] = Field(default_factory=list, max_length=4)
    """Add-ons with their plan's defaults (those that need no settings: endpoint, mail)."""


class PlanChange(Request):
    plan: PlanName
    """The plan to bill from now on."""


class Invite(Request):
    email: Email
    role: TenantRole = TenantRole.MEMBER


class Accept(Request):
    token: MailCode
    password: Password | None = None
    """Only when the invited address has no account yet."""
    display_name: Name | None = None


class RoleChange(Request):
    role: TenantRole


class Notice(BaseModel):
    """An answer that must not tell whether an account exists."""

    detail: str


class UserOut(BaseModel):
    id: int
    email: str
    display_name: str
    platform_role: str | None
    verified: bool
    created_at: datetime
    locked_until: datetime | None
    totp_enabled: bool
    """Whether sign-in also needs an authenticator code."""


class SessionOut(BaseModel):
    csrf_token: str
    """Send it back in `X-CSRF-Token` on every request that changes something."""
    expires_at: datetime
    user: UserOut


class MembershipOut(BaseModel):
    tenant_id: str
    role: str


class MeOut(BaseModel):
    user: UserOut
    memberships: list[MembershipOut]
    via: Literal["token", "session"]
    scope: Scope
    token_tenant: str | None


class TokenOut(BaseModel):
    id: int
    name: str
    scope: str
    tenant_id: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    token: str
    """The token itself: shown this once, stored only as a hash."""


class TenantOut(BaseModel):
    tenant_id: str
    display_name: str | None
    plan: str
    state: str
    """A lifecycle state, or `awaiting-billing` while a paid plan's checkout is open."""
    display_state: str
    region: str | None
    spec_version: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    outputs: dict[str, Any] = Field(default_factory=dict)
    retained: list[str] = Field(default_factory=list)
    pending_jobs: list[dict[str, Any]] = Field(default_factory=list)
    checkout_url: str | None = None
    role: str | None = None
    """The caller's role in the tenant."""


class TenantRequestOut(BaseModel):
    """What a change request did."""

    tenant_id: str
    status: Literal["queued", "unchanged", "awaiting-billing", "cancelled"]
    state: str
    spec_version: int | None
    job_id: int | None
    message: str
    checkout_url: str | None = None


class SpecOut(BaseModel):
    tenant_id: str
    version: int
    spec: dict[str, Any]
    """The desired spec, fields left at their plan defaults omitted."""


class OperationOut(BaseModel):
    id: int
    action: str
    actor: str
    mode: str | None
    status: str
    spec_version: int | None
    started_at: datetime
    finished_at: datetime | None
    message: str | None
    error: str | None
    changes: dict[str, int]
    policy_violations: list[str]
    resource_count: int | None
    job_id: int | None
    events: list[str] = Field(default_factory=list)
    """Engine messages, when asked for with `events=true`."""


class ResourceOut(BaseModel):
    type: str
    """Pulumi type token, e.g. `aws:s3/bucket:Bucket`."""
    name: str
    component: str
    """The component it was created in (`network`, `endpoint`, ...)."""
    id: str | None
    outputs: dict[str, Any]
    """Scalar outputs (ids, ARNs, names); secrets shown as `[secret]`."""


class ComponentResourcesOut(BaseModel):
    group: Literal["network", "storage", "identity", "compute", "alarms", "add-ons", "bundle"]
    resources: list[ResourceOut]


class ResourcesOut(BaseModel):
    """The bundle's resources as the tenant's last run left them, by component."""

    tenant_id: str
    mode: Literal["plan", "deploy"] | None
    """`plan`: evaluated offline, nothing exists in the cloud; None: no run recorded yet."""
    is_plan: bool
    operation_id: int | None
    spec_version: int | None
    recorded_at: datetime | None
    groups: list[ComponentResourcesOut]


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: str
    since: datetime


class InvitationOut(BaseModel):
    id: int
    tenant_id: str
    email: str
    role: str
    expires_at: datetime
    created_by: str


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    """`member.invite`, `member.join`, `member.role`, `member.remove`, `token.issue`, ..."""
    subject: str
    detail: str


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None
    """Where the next page starts; None on the last page."""


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class NewCase(Request):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    """What happened and what you expected."""
    page: Annotated[str, StringConstraints(min_length=1, max_length=512)] = "/"
    """The portal path the case is opened from."""


class CaseAnswer(Request):
    body: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class Reason(Request):
    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
        ),
    ]
    """Why, for the audit log and the tenant's history."""
