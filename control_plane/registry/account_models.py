"""The accounts tables: users, memberships, one-time mail tokens, API tokens, sessions, the
mail outbox and tenant claims. They share the registry's `Base`, so one migration history
covers the schema. Secrets (passwords, tokens) are stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class User(Base):
    """A person who signs in; `email` is stored lower-cased, so it is unique regardless of case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    """An Argon2id hash in PHC format."""
    platform_role: Mapped[str | None] = mapped_column(String(16))
    """`operator`, `support` or `auditor` for the provider's staff; None for customers."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive failed sign-ins since the last success or unlock."""
    locked_until: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(Text)
    """The authenticator (TOTP) secret, encrypted with the accounts' TOTP key; None when the
    account signs in with its password alone."""
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    """The time step of the last code accepted, so a code is never accepted twice."""


class Membership(Base):
    """A user's role in one tenant; ended memberships stay for the audit trail."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_tenant", "tenant_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(128))
    ended_reason: Mapped[str | None] = mapped_column(Text)


class TenantClaim(Base):
    """A tenant id a user asked for, until provisioning (free) or billing (paid) creates it.

    The claimant is the tenant's first owner; the claim keeps the id from being taken twice
    while a checkout is open.
    """

    __tablename__ = "tenant_claims"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(128))
    checkout_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailToken(Base):
    """A single-use, expiring token sent by e-mail: verification, password reset, invitation."""

    __tablename__ = "mail_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """Invitations only: the tenant joined."""
    role: Mapped[str | None] = mapped_column(String(16))
    """Invitations only: the role granted."""
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token (`tnt_...`); only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The one tenant the token acts in; None for a platform token."""
    name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8))
    """`read` or `write`."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters, to tell tokens apart in listings."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class BrowserSession(Base):
    """A signed-in browser; the cookie carries the token, the row makes logout final."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Sent back in `X-CSRF-Token` (or a form field) on every unsafe request."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message kept for `tenantctl mail outbox` when no SMTP server is configured."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountEvent(Base):
    """The accounts audit log: who changed which account, token or membership, and when."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(254))
    """Whom or what the change was about (an address, a token prefix)."""
    detail: Mapped[str] = mapped_column(Text, default="")
