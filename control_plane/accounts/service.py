"""The accounts use cases: sign-up, verification, sign-in, tokens, sessions, memberships,
invitations, password reset, tenant claims and revoking a retired tenant's access.

Each use case is one transaction; mail it produces is handed to the relay only after the
transaction commits. Every change is stamped with the acting principal (or `system`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.accounts import credentials
from control_plane.accounts.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from control_plane.accounts.mail import Mail, Mailer
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import PlatformRole, Scope, TenantRole, assignable_by
from control_plane.accounts.settings import AccountsSettings
from control_plane.registry.account_models import (
    AccountEvent,
    ApiToken,
    BrowserSession,
    MailToken,
    Membership,
    TenantClaim,
    User,
)
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant

SYSTEM_ACTOR = "system"
CLAIM_LIFETIME = timedelta(hours=24)
"""How long a paid plan's tenant id is held for its checkout (a checkout expires in 24 h)."""
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A token's last use is written at most this often, so reads do not each cost a write."""
_GONE = (TenantState.DEPROVISIONING.value, TenantState.RETIRED.value)
_EMAIL = TypeAdapter(EmailStr)
MAX_NAME_LENGTH = 128


class Purpose:
    VERIFY = "verify"
    RESET = "reset"
    INVITE = "invite"


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    display_name: str
    platform_role: str | None
    verified: bool
    created_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class MemberView:
    user_id: int
    email: str
    display_name: str
    role: str
    since: datetime


@dataclass(frozen=True)
class InvitationView:
    id: int
    tenant_id: str
    email: str
    role: str
    expires_at: datetime
    created_by: str


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    scope: str
    tenant_id: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SignedIn:
    """A new browser session: the cookie value (shown once) and its CSRF token."""

    session_token: str
    csrf_token: str
    expires_at: datetime
    user: UserView


@dataclass(frozen=True)
class ClaimView:
    tenant_id: str
    plan: str
    region: str
    display_name: str | None
    checkout_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str


class _AddressLimiter:
    """Sign-in attempts per client address in a sliding minute (per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            window = self._seen[address]
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self._limit:
                retry = int(60 - (now - window[0])) + 1
                raise RateLimitedError(
                    f"too many sign-in attempts from {address}; try again in {retry} s", retry
                )
            window.append(now)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountService:
    """Users, credentials and memberships in the registry database."""

    def __init__(
        self,
        database: Database,
        settings: AccountsSettings,
        mailer: Mailer,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        self._mailer = mailer
        self._clock = clock
        self._addresses = _AddressLimiter(settings.address_attempts_per_minute)

    @contextmanager
    def _use_case(self) -> Iterator[tuple[Session, list[Mail]]]:
        outgoing: list[Mail] = []
        with self.database.transaction() as session:
            yield session, outgoing
            for mail in outgoing:
                self._mailer.queue(session, mail)
        for mail in outgoing:
            self._mailer.deliver(mail)

    # Users

    def create_user(
        self,
        email: str,
        password: str,
        display_name: str,
        *,
        platform_role: PlatformRole | None = None,
        verified: bool = False,
        actor: str = SYSTEM_ACTOR,
    ) -> UserView:
        """A user; unverified ones get a verification mail."""
        address = _email(email)
        _check_name(display_name)
        _check_password(password, email=address)
        password_hash = credentials.hash_password(password)
        with self._use_case() as (session, outgoing):
            if session.scalars(select(User.id).where(User.email == address)).first() is not None:
                raise ConflictError(f"email: an account for {address} exists already")
            user = User(
                email=address,
                display_name=display_name.strip(),
                password_hash=password_hash,
                platform_role=platform_role.value if platform_role else None,
                verified_at=self._clock() if verified else None,
                failed_logins=0,
                created_at=self._clock(),
            )
            session.add(user)
            _flush_unique(session, f"email: an account for {address} exists already")
            self._record(
                session,
                actor,
                "user.create",
                subject=address,
                detail=f"platform role {platform_role.value}" if platform_role else "",
            )
            if not verified:
                outgoing.append(self._verification_mail(session, user, actor=actor))
            return _user_view(user)

    def resend_verification(self, email: str) -> None:
        """Mail a new confirmation code to an unverified account; silent otherwise."""
        address = email.strip().lower()
        with self._use_case() as (session, outgoing):
            user = session.scalars(select(User).where(User.email == address)).one_or_none()
            if user is None or user.verified_at is not None or user.disabled_at is not None:
                return
            outgoing.append(self._verification_mail(session, user, actor=SYSTEM_ACTOR))

    def _verification_mail(self, session: Session, user: User, *, actor: str) -> Mail:
        token = self._mail_token(session, Purpose.VERIFY, user.email, user_id=user.id, actor=actor)
        return Mail(
            user.email,
            "Confirm your e-mail address",
            f"Hello {user.display_name},\n\nconfirm your address with this code "
            f"(valid {_lifetime(self.settings.verification_lifetime)}):\n\n"
            f"    {token}\n\nIn a browser: {self.settings.public_url}/verify?code={token}\n"
            f"With the API: POST it to {self.settings.public_url}/api/v1/account/verify as "
            '{"token": "..."}.\n',
        )

    def verify_email(self, token: str) -> UserView:
        with self._use_case() as (session, _outgoing):
            row = self._redeem(session, Purpose.VERIFY, token)
            user = session.get(User, row.user_id)
            assert user is not None
            user.verified_at = user.verified_at or self._clock()
            self._record(session, f"user:{user.email}", "user.verify", subject=user.email)
            return _user_view(user)

    def user(self, user_id: int) -> UserView:
        with self.database.transaction() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"user {user_id} not found")
            return _user_view(user)

    def find_user(self, email: str) -> UserView:
        address = email.strip().lower()
        with self.database.transaction() as session:
            user = session.scalars(select(User).where(User.email == address)).one_or_none()
            if user is None:
                raise NotFoundError(f"no account for {address}")
            return _user_view(user)

    def unlock(self, user_id: int, *, actor: str) -> UserView:
        """Lift a sign-in lockout (an operator's or support's action)."""
        with self._use_case() as (session, _outgoing):
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"user {user_id} not found")
            user.failed_logins = 0
            user.locked_until = None
            self._record(session, actor, "user.unlock", subject=user.email)
            return _user_view(user)

    def disable(self, user_id: int, *, actor: str) -> UserView:
        """Stop an account: its sessions end and its tokens are revoked; the rows stay."""
        now = self._clock()
        with self._use_case() as (session, _outgoing):
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"user {user_id} not found")
            user.disabled_at = user.disabled_at or now
            session.execute(
                update(BrowserSession)
                .where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
                .values(ended_at=now)
            )
            session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=actor)
            )
            self._record(session, actor, "user.disable", subject=user.email)
            return _user_view(user)

    # Signing in

    def sign_in(self, email: str, password: str, *, address: str) -> SignedIn:
        """A new session, or `AuthenticationError` / `RateLimitedError`.

        Each failure counts against the account; at the threshold it is locked for the
        lockout duration, and the address is limited across accounts.
        """
        self._addresses.hit(address)
        now = self._clock()
        address_email = email.strip().lower()
        with self.database.transaction() as session:
            user = session.scalars(select(User).where(User.email == address_email)).one_or_none()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            retry = int((user.locked_until - now).total_seconds()) + 1
            raise RateLimitedError(
                "this account is locked after repeated failed sign-ins; try again in "
                f"{retry} s or ask an operator to unlock it",
                retry,
            )
        # Argon2 is slow on purpose: verify outside any transaction, so a sign-in never
        # holds the registry's write lock (SQLite) while hashing.
        if not credentials.verify_password(user.password_hash if user else None, password):
            if user is not None:
                self._count_failure(user.id, now)
            raise AuthenticationError("wrong e-mail or password")
        assert user is not None
        if user.disabled_at is not None:
            raise AuthenticationError("this account is disabled")
        if user.verified_at is None:
            raise ForbiddenError("confirm your e-mail address first (see the mail we sent)")
        session_token = credentials.new_token(credentials.SESSION_TOKEN_PREFIX)
        csrf = credentials.new_token("")
        expires = now + self.settings.session_lifetime
        with self.database.transaction() as session:
            row = session.get(User, user.id, with_for_update=True)
            assert row is not None
            if row.failed_logins or row.locked_until is not None:
                row.failed_logins = 0
                row.locked_until = None
            session.add(
                BrowserSession(
                    user_id=user.id,
                    token_hash=credentials.token_hash(session_token),
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
            return SignedIn(session_token, csrf, expires, _user_view(row))

    def _count_failure(self, user_id: int, now: datetime) -> None:
        """One more failed sign-in; at the threshold the account is locked."""
        with self.database.transaction() as session:
            user = session.get(User, user_id, with_for_update=True)
            if user is None:
                return
            user.failed_logins += 1
            if user.failed_logins >= self.settings.lockout_threshold:
                user.locked_until = now + self.settings.lockout_duration
                user.failed_logins = 0
                self._record(
                    session,
                    SYSTEM_ACTOR,
                    "user.lock",
                    subject=user.email,
                    detail=f"after {self.settings.lockout_threshold} failed sign-ins",
                )

    def sign_out(self, principal: Principal) -> None:
        if principal.via != "session" or principal.credential_id is None:
            raise InvalidRequestError("only a browser session signs out; revoke tokens instead")
        with self.database.transaction() as session:
            row = session.get(BrowserSession, principal.credential_id)
            if row is not None and row.ended_at is None:
                row.ended_at = self._clock()

    def principal_for_session(self, raw: str) -> Principal:
        now = self._clock()
        with self.database.transaction() as session:
            row = session.scalars(
                select(BrowserSession).where(
                    BrowserSession.token_hash == credentials.token_hash(raw)
                )
            ).one_or_none()
            if row is None or row.ended_at is not None or row.expires_at <= now:
                raise AuthenticationError("the session has ended; sign in again")
            return self._principal(
                session,
                row.user_id,
                via="session",
                scope=Scope.WRITE,
                credential_id=row.id,
                csrf_token=row.csrf_token,
            )

    def principal_for_token(self, raw: str) -> Principal:
        now = self._clock()
        with self.database.transaction() as session:
            row = session.scalars(
                select(ApiToken).where(ApiToken.token_hash == credentials.token_hash(raw))
            ).one_or_none()
            if row is None:
                raise AuthenticationError("unknown API token")
            if row.revoked_at is not None:
                raise AuthenticationError(f"API token {row.prefix}… was revoked")
            if row.expires_at <= now:
                raise AuthenticationError(f"API token {row.prefix}… expired")
            if row.last_used_at is None or row.last_used_at <= now - LAST_USED_RESOLUTION:
                row.last_used_at = now
            return self._principal(
                session,
                row.user_id,
                via="token",
                scope=Scope(row.scope),
                token_tenant=row.tenant_id,
                credential_id=row.id,
            )

    def _principal(
        self,
        session: Session,
        user_id: int,
        *,
        via: str,
        scope: Scope,
        token_tenant: str | None = None,
        credential_id: int | None = None,
        csrf_token: str | None = None,
    ) -> Principal:
        user = session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            raise AuthenticationError("this account is disabled")
        rows = session.execute(
            select(Membership.tenant_id, Membership.role)
            .outerjoin(Tenant, Tenant.id == Membership.tenant_id)
            .where(
                Membership.user_id == user_id,
                Membership.ended_at.is_(None),
                or_(Tenant.state.is_(None), Tenant.state.not_in(_GONE)),
            )
        ).all()
        return Principal(
            user_id=user.id,
            email=user.email,
            platform_role=PlatformRole(user.platform_role) if user.platform_role else None,
            memberships={tenant: TenantRole(role) for tenant, role in rows},
            via="token" if via == "token" else "session",
            scope=scope,
            token_tenant=token_tenant,
            credential_id=credential_id,
            csrf_token=csrf_token,
        )

    # API tokens

    def issue_token(
        self,
        principal: Principal,
        *,
        name: str,
        scope: Scope,
        tenant_id: str | None,
        lifetime: timedelta,
    ) -> tuple[str, TokenView]:
        """A new token (returned once in clear) for the caller, no stronger than the caller."""
        principal.require_write()
        if not name.strip() or len(name) > 64:
            raise InvalidRequestError(f"name: 1 to 64 characters (got {len(name)})")
        if not timedelta(minutes=5) <= lifetime <= self.settings.token_max_lifetime:
            raise InvalidRequestError(
                f"expires_in_days: the lifetime must be between 5 minutes and "
                f"{self.settings.token_max_lifetime.days} days"
            )
        if principal.token_tenant is not None and tenant_id != principal.token_tenant:
            raise ForbiddenError(
                f"a token bound to tenant {principal.token_tenant!r} only issues tokens for it"
            )
        if tenant_id is not None and principal.role_in(tenant_id) is None:
            raise NotFoundError(f"tenant {tenant_id!r} not found")
        raw = credentials.new_token(credentials.API_TOKEN_PREFIX)
        now = self._clock()
        with self.database.transaction() as session:
            row = ApiToken(
                user_id=principal.user_id,
                tenant_id=tenant_id,
                name=name.strip(),
                scope=scope.value,
                token_hash=credentials.token_hash(raw),
                prefix=raw[:10],
                created_at=now,
                expires_at=now + lifetime,
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                principal.actor,
                "token.issue",
                tenant_id=tenant_id,
                subject=f"token {row.prefix}…",
                detail=f"{row.name!r}, scope {scope.value}, expires {row.expires_at:%Y-%m-%d}",
            )
            return raw, _token_view(row)

    def tokens(self, principal: Principal) -> list[TokenView]:
        with self.database.transaction() as session:
            rows = session.scalars(
                select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id)
            )
            return [_token_view(r) for r in rows]

    def revoke_token(self, principal: Principal, token_id: int) -> TokenView:
        principal.require_write()
        with self.database.transaction() as session:
            row = session.scalars(
                select(ApiToken).where(
                    ApiToken.id == token_id, ApiToken.user_id == principal.user_id
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"token {token_id} not found")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                row.revoked_by = principal.actor
                self._record(
                    session,
                    principal.actor,
                    "token.revoke",
                    tenant_id=row.tenant_id,
                    subject=f"token {row.prefix}…",
                )
            return _token_view(row)

    # Password reset

    def request_password_reset(self, email: str) -> None:
        """Mail a reset code if the account exists; the answer is the same either way."""
        address = email.strip().lower()
        with self._use_case() as (session, outgoing):
            user = session.scalars(select(User).where(User.email == address)).one_or_none()
            if user is None or user.disabled_at is not None:
                return
            token = self._mail_token(
                session, Purpose.RESET, address, user_id=user.id, actor=SYSTEM_ACTOR
            )
            outgoing.append(
                Mail(
                    address,
                    "Reset your password",
                    f"Someone asked to reset the password of {address}. If it was you, use "
                    f"this code within {_lifetime(self.settings.reset_lifetime)}:\n\n"
                    f"    {token}\n\nIn a browser: "
                    f"{self.settings.public_url}/password-reset/confirm?code={token}\n"
                    "With the API: POST it with the new password to "
                    f"{self.settings.public_url}/api/v1/account/password-reset/confirm.\n"
                    "If it was not you, ignore this message.\n",
                )
            )

    def reset_password(self, token: str, password: str) -> UserView:
        """Set a new password; every session of the user ends and a lockout is lifted."""
        new_hash = _hashed(password)
        with self._use_case() as (session, _outgoing):
            row = self._redeem(session, Purpose.RESET, token)
            user = session.get(User, row.user_id)
            assert user is not None
            _check_password(password, email=user.email)
            user.password_hash = new_hash
            user.failed_logins = 0
            user.locked_until = None
            user.verified_at = user.verified_at or self._clock()
            self._record(
                session,
                f"user:{user.email}",
                "user.password-reset",
                subject=user.email,
                detail="every session ended",
            )
            session.execute(
                update(BrowserSession)
                .where(BrowserSession.user_id == user.id, BrowserSession.ended_at.is_(None))
                .values(ended_at=self._clock())
            )
            return _user_view(user)

    # Tenants and memberships

    def claim_tenant(
        self,
        principal: Principal,
        *,
        tenant_id: str,
        plan: str,
        region: str,
        display_name: str | None,
    ) -> ClaimView:
        """Hold the tenant id for the caller, who becomes its first owner."""
        principal.require_write()
        if principal.token_tenant is not None:
            raise ForbiddenError("a tenant-bound token cannot create tenants")
        now = self._clock()
        with self.database.transaction() as session:
            user = session.get(User, principal.user_id)
            assert user is not None
            if user.verified_at is None:
                raise ForbiddenError("confirm your e-mail address before creating a tenant")
            if session.get(Tenant, tenant_id) is not None:
                raise ConflictError(f"tenant_id: {tenant_id!r} is taken; choose another")
            claim = session.get(TenantClaim, tenant_id)
            if claim is not None:
                if claim.created_at > now - CLAIM_LIFETIME:
                    raise ConflictError(f"tenant_id: {tenant_id!r} is taken; choose another")
                self._drop_claim(session, claim, reason="claim expired")
                session.flush()
            claim = TenantClaim(
                tenant_id=tenant_id,
                user_id=user.id,
                plan=plan,
                region=region,
                display_name=display_name,
                created_at=now,
            )
            session.add(claim)
            _flush_unique(session, f"tenant_id: {tenant_id!r} is taken; choose another")
            session.add(
                Membership(
                    tenant_id=tenant_id,
                    user_id=user.id,
                    role=TenantRole.OWNER.value,
                    created_at=now,
                    created_by=principal.actor,
                )
            )
            self._record(
                session,
                principal.actor,
                "tenant.claim",
                tenant_id=tenant_id,
                subject=principal.email,
                detail=f"plan {plan} in {region}; first owner",
            )
            session.flush()
            return _claim_view(claim)

    def record_checkout(self, tenant_id: str, checkout_id: str, checkout_url: str) -> ClaimView:
        with self.database.transaction() as session:
            claim = session.get(TenantClaim, tenant_id)
            if claim is None:
                raise NotFoundError(f"tenant {tenant_id!r} has no open claim")
            claim.checkout_id = checkout_id
            claim.checkout_url = checkout_url
            return _claim_view(claim)

    def release_claim(self, tenant_id: str, *, reason: str) -> None:
        """Give the id back (the tenant could not be created); the membership ends."""
        with self.database.transaction() as session:
            claim = session.get(TenantClaim, tenant_id)
            if claim is not None:
                self._drop_claim(session, claim, reason=reason)

    def tenant_standing(self, tenant_id: str) -> Literal["registered", "claimed"] | None:
        """Whether the tenant exists, is only claimed (awaiting billing), or neither."""
        with self.database.transaction() as session:
            if session.get(Tenant, tenant_id) is not None:
                return "registered"
            return "claimed" if session.get(TenantClaim, tenant_id) is not None else None

    def claim(self, tenant_id: str) -> ClaimView | None:
        with self.database.transaction() as session:
            row = session.get(TenantClaim, tenant_id)
            return _claim_view(row) if row is not None else None

    def _drop_claim(self, session: Session, claim: TenantClaim, *, reason: str) -> None:
        self._record(
            session,
            SYSTEM_ACTOR,
            "tenant.claim-release",
            tenant_id=claim.tenant_id,
            subject=claim.tenant_id,
            detail=reason,
        )
        session.execute(
            update(Membership)
            .where(Membership.tenant_id == claim.tenant_id, Membership.ended_at.is_(None))
            .values(ended_at=self._clock(), ended_by=SYSTEM_ACTOR, ended_reason=reason)
        )
        session.delete(claim)

    def members(self, tenant_id: str) -> list[MemberView]:
        with self.database.transaction() as session:
            rows = session.execute(
                select(Membership, User)
                .join(User, User.id == Membership.user_id)
                .where(Membership.tenant_id == tenant_id, Membership.ended_at.is_(None))
                .order_by(Membership.id)
            ).all()
            return [
                MemberView(u.id, u.email, u.display_name, m.role, m.created_at) for m, u in rows
            ]

    def invite(
        self, principal: Principal, tenant_id: str, email: str, role: TenantRole
    ) -> InvitationView:
        """Mail a single-use invitation to join the tenant with `role`."""
        self._check_assignable(principal, tenant_id, role)
        address = _email(email)
        with self._use_case() as (session, outgoing):
            existing = session.scalars(
                select(Membership.id)
                .join(User, User.id == Membership.user_id)
                .where(
                    Membership.tenant_id == tenant_id,
                    Membership.ended_at.is_(None),
                    User.email == address,
                )
            ).first()
            if existing is not None:
                raise ConflictError(f"email: {address} is a member of {tenant_id!r} already")
            token = self._mail_token(
                session,
                Purpose.INVITE,
                address,
                tenant_id=tenant_id,
                role=role.value,
                actor=principal.actor,
            )
            row = session.scalars(
                select(MailToken).where(MailToken.token_hash == credentials.token_hash(token))
            ).one()
            self._record(
                session,
                principal.actor,
                "member.invite",
                tenant_id=tenant_id,
                subject=address,
                detail=f"role {role.value}",
            )
            outgoing.append(
                Mail(
                    address,
                    f"You are invited to tenant {tenant_id}",
                    f"{principal.email} invites you to tenant {tenant_id} as {role.value}. "
                    f"Accept within {_lifetime(self.settings.invitation_lifetime)} with this "
                    f"code:\n\n    {token}\n\nIn a browser: "
                    f"{self.settings.public_url}/invitations/accept?code={token}\n"
                    "With the API: POST it to "
                    f"{self.settings.public_url}/api/v1/invitations/accept (with a password "
                    "and display name if you have no account yet).\n",
                )
            )
            return _invitation_view(row)

    def invitations(self, tenant_id: str) -> list[InvitationView]:
        now = self._clock()
        with self.database.transaction() as session:
            rows = session.scalars(
                select(MailToken)
                .where(
                    MailToken.purpose == Purpose.INVITE,
                    MailToken.tenant_id == tenant_id,
                    MailToken.used_at.is_(None),
                    MailToken.expires_at > now,
                )
                .order_by(MailToken.id)
            )
            return [_invitation_view(r) for r in rows]

    def accept_invitation(
        self, token: str, *, password: str | None, display_name: str | None
    ) -> MemberView:
        """Join the tenant; a new address gets an account (verified: the mail proved it)."""
        new_hash = _hashed(password) if password is not None else None
        with self._use_case() as (session, _outgoing):
            row = self._redeem(session, Purpose.INVITE, token)
            assert row.tenant_id is not None and row.role is not None
            tenant = session.get(Tenant, row.tenant_id)
            if tenant is not None and tenant.state in _GONE:
                raise ConflictError(f"tenant {row.tenant_id!r} is being retired")
            user = session.scalars(select(User).where(User.email == row.email)).one_or_none()
            if user is None:
                if password is None or new_hash is None or display_name is None:
                    raise InvalidRequestError(
                        f"password, display_name: required to create the account of {row.email}"
                    )
                _check_name(display_name)
                _check_password(password, email=row.email)
                user = User(
                    email=row.email,
                    display_name=display_name.strip(),
                    password_hash=new_hash,
                    verified_at=self._clock(),
                    failed_logins=0,
                    created_at=self._clock(),
                )
                session.add(user)
                _flush_unique(session, f"email: an account for {row.email} exists already")
            elif session.scalars(
                select(Membership.id).where(
                    Membership.tenant_id == row.tenant_id,
                    Membership.user_id == user.id,
                    Membership.ended_at.is_(None),
                )
            ).first():
                raise ConflictError(f"{row.email} is a member of {row.tenant_id!r} already")
            membership = Membership(
                tenant_id=row.tenant_id,
                user_id=user.id,
                role=row.role,
                created_at=self._clock(),
                created_by=row.created_by,
            )
            session.add(membership)
            session.flush()
            self._record(
                session,
                f"user:{user.email}",
                "member.join",
                tenant_id=row.tenant_id,
                subject=user.email,
                detail=f"role {row.role}, invited by {row.created_by}",
            )
            return MemberView(
                user.id, user.email, user.display_name, membership.role, membership.created_at
            )

    def change_role(
        self, principal: Principal, tenant_id: str, user_id: int, role: TenantRole
    ) -> MemberView:
        """Give a member another role (ends the old membership row, starts a new one)."""
        with self.database.transaction() as session:
            current, user = self._membership(session, tenant_id, user_id)
            self._check_assignable(principal, tenant_id, TenantRole(current.role))
            self._check_assignable(principal, tenant_id, role)
            if current.role == role.value:
                return MemberView(user.id, user.email, user.display_name, role, current.created_at)
            self._end(session, current, principal.actor, f"role changed to {role.value}")
            self._keep_an_owner(session, tenant_id)
            replacement = Membership(
                tenant_id=tenant_id,
                user_id=user_id,
                role=role.value,
                created_at=self._clock(),
                created_by=principal.actor,
            )
            session.add(replacement)
            session.flush()
            self._record(
                session,
                principal.actor,
                "member.role",
                tenant_id=tenant_id,
                subject=user.email,
                detail=f"{current.role} -> {role.value}",
            )
            return MemberView(
                user.id, user.email, user.display_name, role.value, replacement.created_at
            )

    def remove_member(self, principal: Principal, tenant_id: str, user_id: int) -> None:
        with self.database.transaction() as session:
            current, user = self._membership(session, tenant_id, user_id)
            self._check_assignable(principal, tenant_id, TenantRole(current.role))
            self._end(session, current, principal.actor, "removed")
            self._record(
                session,
                principal.actor,
                "member.remove",
                tenant_id=tenant_id,
                subject=user.email,
                detail=f"was {current.role}; the member's tokens for the tenant are revoked",
            )
            self._keep_an_owner(session, tenant_id)
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.user_id == user_id,
                    ApiToken.tenant_id == tenant_id,
                    ApiToken.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock(), revoked_by=principal.actor)
            )

    def _membership(
        self, session: Session, tenant_id: str, user_id: int
    ) -> tuple[Membership, User]:
        found = session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.user_id == user_id,
                Membership.ended_at.is_(None),
            )
            .with_for_update()
        ).first()
        if found is None:
            raise NotFoundError(f"user {user_id} is not a member of tenant {tenant_id!r}")
        return found[0], found[1]

    def _end(self, session: Session, membership: Membership, actor: str, reason: str) -> None:
        membership.ended_at = self._clock()
        membership.ended_by = actor
        membership.ended_reason = reason
        session.flush()

    @staticmethod
    def _keep_an_owner(session: Session, tenant_id: str) -> None:
        owners = session.scalars(
            select(Membership.id).where(
                Membership.tenant_id == tenant_id,
                Membership.role == TenantRole.OWNER.value,
                Membership.ended_at.is_(None),
            )
        ).first()
        if owners is None:
            raise ConflictError(
                f"tenant {tenant_id!r} must keep at least one owner; make someone else owner first"
            )

    @staticmethod
    def _check_assignable(principal: Principal, tenant_id: str, role: TenantRole) -> None:
        own = principal.memberships.get(tenant_id)
        if own is None or role not in assignable_by(own):
            raise ForbiddenError(
                f"your role in {tenant_id!r} may not grant or change the role {role.value!r}"
            )

    def audit(self, tenant_id: str, *, limit: int, offset: int) -> list[AuditView]:
        """The tenant's account events, newest first."""
        with self.database.transaction() as session:
            rows = session.scalars(
                select(AccountEvent)
                .where(AccountEvent.tenant_id == tenant_id)
                .order_by(AccountEvent.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [AuditView(r.id, r.at, r.actor, r.action, r.subject, r.detail) for r in rows]

    # Retirement

    def revoke_tenant_access(self, tenant_id: str, *, actor: str, reason: str) -> int:
        """End every membership, token and invitation of the tenant; the rows stay."""
        with self.database.transaction() as session:
            return self._revoke(session, tenant_id, actor=actor, reason=reason)

    def sweep(self) -> list[str]:
        """Revoke access to tenants being retired by any path (billing, CLI), release
        claims whose tenant now exists or whose checkout lapsed. Returns the tenants
        whose access was revoked."""
        now = self._clock()
        revoked: list[str] = []
        with self.database.transaction() as session:
            gone = session.scalars(
                select(Membership.tenant_id)
                .join(Tenant, Tenant.id == Membership.tenant_id)
                .where(Membership.ended_at.is_(None), Tenant.state.in_(_GONE))
                .union(
                    select(ApiToken.tenant_id)
                    .join(Tenant, Tenant.id == ApiToken.tenant_id)
                    .where(ApiToken.revoked_at.is_(None), Tenant.state.in_(_GONE))
                )
            ).all()
            for tenant_id in gone:
                self._revoke(session, tenant_id, actor=SYSTEM_ACTOR, reason="tenant retired")
                revoked.append(tenant_id)
            for claim in session.scalars(select(TenantClaim)).all():
                if session.get(Tenant, claim.tenant_id) is not None:
                    session.delete(claim)
                elif claim.created_at <= now - CLAIM_LIFETIME:
                    self._drop_claim(session, claim, reason="checkout not completed in time")
        return revoked

    def _revoke(self, session: Session, tenant_id: str, *, actor: str, reason: str) -> int:
        now = self._clock()
        ended = session.execute(
            update(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.ended_at.is_(None))
            .values(ended_at=now, ended_by=actor, ended_reason=reason)
        )
        session.execute(
            update(ApiToken)
            .where(ApiToken.tenant_id == tenant_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor)
        )
        session.execute(
            update(MailToken)
            .where(MailToken.tenant_id == tenant_id, MailToken.used_at.is_(None))
            .values(used_at=now)
        )
        count = int(getattr(ended, "rowcount", 0) or 0)
        self._record(
            session,
            actor,
            "tenant.access-revoked",
            tenant_id=tenant_id,
            subject=tenant_id,
            detail=f"{reason}: {count} membership(s) ended, tokens and invitations revoked",
        )
        return count

    def _record(
        self,
        session: Session,
        actor: str,
        action: str,
        *,
        subject: str,
        tenant_id: str | None = None,
        detail: str = "",
    ) -> None:
        session.add(
            AccountEvent(
                at=self._clock(),
                actor=actor,
                action=action,
                tenant_id=tenant_id,
                subject=subject,
                detail=detail,
            )
        )

    # Mail tokens

    def _mail_token(
        self,
        session: Session,
        purpose: str,
        email: str,
        *,
        actor: str,
        user_id: int | None = None,
        tenant_id: str | None = None,
        role: str | None = None,
    ) -> str:
        lifetime = {
            Purpose.VERIFY: self.settings.verification_lifetime,
            Purpose.RESET: self.settings.reset_lifetime,
            Purpose.INVITE: self.settings.invitation_lifetime,
        }[purpose]
        raw = credentials.new_token(credentials.MAIL_TOKEN_PREFIX)
        now = self._clock()
        session.add(
            MailToken(
                purpose=purpose,
                token_hash=credentials.token_hash(raw),
                email=email,
                user_id=user_id,
                tenant_id=tenant_id,
                role=role,
                created_by=actor,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
        session.flush()
        return raw

    def _redeem(self, session: Session, purpose: str, raw: str) -> MailToken:
        """The token's row, marked used; one message for every way it can be unusable."""
        row = session.scalars(
            select(MailToken)
            .where(
                MailToken.token_hash == credentials.token_hash(raw), MailToken.purpose == purpose
            )
            .with_for_update()
        ).one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= self._clock():
            raise InvalidRequestError(
                f"token: this {purpose} code is unknown, used already or expired; ask for a new one"
            )
        row.used_at = self._clock()
        return row


def _check_password(password: str, *, email: str) -> None:
    try:
        credentials.check_password_policy(password, email=email)
    except credentials.WeakPasswordError as error:
        raise InvalidRequestError(str(error)) from None


def _hashed(password: str) -> str:
    """The Argon2id hash of a password that passes the policy (the e-mail rule is checked
    where the address is known), computed before any transaction: hashing is slow."""
    _check_password(password, email="")
    return credentials.hash_password(password)


def _flush_unique(session: Session, message: str) -> None:
    """Flush, turning a lost race on a unique key (PostgreSQL, read committed) into a
    conflict the caller can act on."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(message) from None


def _email(value: str) -> str:
    try:
        return str(_EMAIL.validate_python(value.strip())).lower()
    except ValidationError:
        raise InvalidRequestError(f"email: {value!r} is not an e-mail address") from None


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequestError(
            f"display_name: 1 to {MAX_NAME_LENGTH} characters (got {len(name)})"
        )


def _lifetime(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (60 * 24) == 0:
        return f"{minutes // (60 * 24)} day(s)"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minutes"


def _user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        platform_role=user.platform_role,
        verified=user.verified_at is not None,
        created_at=user.created_at,
        locked_until=user.locked_until,
    )


def _token_view(row: ApiToken) -> TokenView:
    return TokenView(
        id=row.id,
        name=row.name,
        scope=row.scope,
        tenant_id=row.tenant_id,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _invitation_view(row: MailToken) -> InvitationView:
    assert row.tenant_id is not None and row.role is not None
    return InvitationView(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        role=row.role,
        expires_at=row.expires_at,
        created_by=row.created_by,
    )


def _claim_view(claim: TenantClaim) -> ClaimView:
    return ClaimView(
        tenant_id=claim.tenant_id,
        plan=claim.plan,
        region=claim.region,
        display_name=claim.display_name,
        checkout_url=claim.checkout_url,
        created_at=claim.created_at,
    )
