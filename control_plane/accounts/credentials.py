"""Passwords (Argon2id) and random tokens, which are stored only as their SHA-256.

Tokens carry 256 bits of randomness, so a fast hash is enough to keep them out of the
database in clear; passwords are people's choices and get the slow, salted Argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_TOKEN_PREFIX = "tnt_"
SESSION_TOKEN_PREFIX = "tss_"
MAIL_TOKEN_PREFIX = "tml_"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile
_UNUSABLE = _hasher.hash(secrets.token_urlsafe(32))
"""Verified against when the account does not exist, so timing does not reveal it."""


class WeakPasswordError(ValueError):
    """The password does not meet the policy; the message says what is needed."""


def check_password_policy(password: str, *, email: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"password: must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
            f"(got {len(password)})"
        )
    if password.casefold() == email.casefold() or len(set(password)) < 4:
        raise WeakPasswordError("password: too easy to guess; use a longer, less regular phrase")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _UNUSABLE, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
