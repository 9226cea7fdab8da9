"""Accounts configuration: `TENANTS_ACCOUNTS_*` (lifetimes, lockout) and `TENANTS_SMTP_*`."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccountsSettings(BaseSettings):
    """How long credentials live and when repeated failed sign-ins lock an account."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_ACCOUNTS_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    public_url: str = "http://127.0.0.1:8080"
    """Where people reach the API; links in e-mails start with it."""
    session_lifetime: timedelta = Field(default=timedelta(hours=12), gt=timedelta(0))
    token_max_lifetime: timedelta = Field(default=timedelta(days=365), gt=timedelta(0))
    """The longest expiry an API token may be given."""
    verification_lifetime: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    reset_lifetime: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0))
    invitation_lifetime: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    """Consecutive failed sign-ins that lock an account."""
    lockout_duration: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    """How long a lock lasts unless an operator lifts it earlier."""
    address_attempts_per_minute: int = Field(default=20, ge=1, le=10_000)
    """Sign-in attempts one client address may make per minute, across accounts."""
    totp_key: SecretStr = SecretStr("")
    """The Fernet key authenticator (TOTP) secrets are encrypted with; needed once a
    platform account enrols (`tenantctl users totp enable`)."""
    totp_issuer: str = Field(default="Tenants", min_length=1, max_length=64)
    """The name authenticator apps show beside the account."""

    @field_validator("totp_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                Fernet(value.get_secret_value())
            except ValueError:
                raise ValueError(
                    "must be a Fernet key: 32 bytes in URL-safe base64 (44 characters)"
                ) from None
        return value


class SmtpSettings(BaseSettings):
    """The mail relay; with no host, mail goes to the outbox table (`tenantctl mail outbox`)."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_SMTP_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "tenants@localhost"
    """The `From` address."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS before sending (set false for a local relay)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
