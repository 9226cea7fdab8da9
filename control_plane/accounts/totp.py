"""Authenticator codes (TOTP, RFC 6238) for platform accounts, with `pyotp`.

The shared secret is shown once, as an `otpauth://` URI for the authenticator app, and
stored only encrypted (Fernet) under the accounts' TOTP key, so a copy of the registry
alone does not yield it. A code is accepted in its 30-second step or one step either side
(clock drift), and only for a step later than the last accepted one, so an overheard code
cannot be replayed.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

CODE_PATTERN = r"^\d{6}$"
DRIFT_STEPS = 1
"""Steps either side of now a code is still accepted in (a 30-second clock drift)."""


class TotpKeyError(RuntimeError):
    """The TOTP key is missing or does not open the stored secret; the message says which."""


@dataclass(frozen=True)
class Enrolment:
    """A new secret, before it is confirmed with a first code and stored."""

    secret: str
    uri: str
    """`otpauth://totp/...`: what the authenticator app scans or is given."""


def new_enrolment(email: str, issuer: str) -> Enrolment:
    secret = pyotp.random_base32()
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer))


def _fernet(key: SecretStr) -> Fernet:
    raw = key.get_secret_value()
    if not raw:
        raise TotpKeyError(
            "authenticator codes need TENANTS_ACCOUNTS_TOTP_KEY (a Fernet key; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
            ".decode())'`)"
        )
    return Fernet(raw)


def check_key(key: SecretStr) -> None:
    """Raise `TotpKeyError` unless a key is configured."""
    _fernet(key)


def seal(secret: str, key: SecretStr) -> str:
    return _fernet(key).encrypt(secret.encode("ascii")).decode("ascii")


def unseal(sealed: str, key: SecretStr) -> str:
    try:
        return _fernet(key).decrypt(sealed.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise TotpKeyError(
            "TENANTS_ACCOUNTS_TOTP_KEY does not open this account's authenticator secret "
            "(was the key changed?); an operator can re-enrol it with `tenantctl users totp`"
        ) from None


def accepted_step(secret: str, code: str, at: datetime, *, after: int | None) -> int | None:
    """The time step `code` is valid in around `at` and later than `after`; None if none."""
    if not re.fullmatch(CODE_PATTERN, code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
