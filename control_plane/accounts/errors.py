"""What the accounts use cases refuse with; each message says what is wrong."""

from __future__ import annotations


class AccountsError(Exception):
    """Base of the refusals below."""


class AuthenticationError(AccountsError):
    """No valid credentials: a wrong password, or an unknown, expired or revoked token."""


class RateLimitedError(AccountsError):
    """Too many attempts: the account is locked or the address is over its rate."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class NotFoundError(AccountsError, LookupError):
    """No such thing visible to the caller (another tenant's ids land here too)."""


class ForbiddenError(AccountsError):
    """The caller sees the thing but its role or token scope does not allow the action."""


class ConflictError(AccountsError):
    """The request clashes with the current state (an e-mail taken, the last owner)."""


class InvalidRequestError(AccountsError, ValueError):
    """A value is not acceptable; the message names the field and what is allowed."""


class UnavailableError(AccountsError):
    """The server cannot do this as configured (a missing key); the message says what to set."""
