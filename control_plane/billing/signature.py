"""Verification of Stripe's `Stripe-Signature: t=<unix time>,v1=<hex hmac>,...` header.

The HMAC is checked by the official `stripe` library over the raw body. Around it: several
accepted secrets (rotation), several `v1` values (Stripe sends one per active secret), a
header parsed strictly enough that garbage is a clear error and never a crash, and a
timestamp tolerance applied in both directions with an injectable clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from enum import StrEnum

# Bound once: attribute access on the `stripe` module goes through a lazy importer.
from stripe import SignatureVerificationError, WebhookSignature

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
_SCHEME = WebhookSignature.EXPECTED_SCHEME
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_HEADER_LENGTH = 4096


class SignatureProblem(StrEnum):
    """Why a delivery was not accepted as signed by the billing system."""

    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    STALE = "stale"
    FUTURE = "future"
    BODY_NOT_TEXT = "body-not-text"


class SignatureError(Exception):
    """The signature header is missing, malformed, wrong or outside the tolerance."""

    def __init__(self, problem: SignatureProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def _parse_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures; other schemes (`v0`) are ignored like Stripe."""
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError(
            SignatureProblem.MALFORMED,
            f"{SIGNATURE_HEADER} header is longer than {_MAX_HEADER_LENGTH} characters",
        )
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(
                SignatureProblem.MALFORMED,
                f"{SIGNATURE_HEADER} item {item.strip()[:40]!r} is not key=value; "
                f"expected t=<unix time>,{_SCHEME}=<hex signature>",
            )
        if key == "t":
            timestamps.append(value)
        elif key == _SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureError(
            SignatureProblem.MALFORMED,
            f"{SIGNATURE_HEADER} needs exactly one t=<unix time in seconds>",
        )
    if len(timestamps[0]) > 12:
        raise SignatureError(
            SignatureProblem.MALFORMED, f"{SIGNATURE_HEADER} timestamp is out of range"
        )
    if not signatures:
        raise SignatureError(
            SignatureProblem.MALFORMED,
            f"{SIGNATURE_HEADER} has no {_SCHEME}=<hex signature>",
        )
    # Only well-formed values reach the library (its comparison rejects non-ASCII text).
    return int(timestamps[0]), [s for s in signatures if _HEX_SHA256.fullmatch(s)]


class SignatureVerifier:
    """Accepts a delivery signed with any of `secrets` within `tolerance_seconds` of now."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets or any(not s.strip() for s in secrets):
            raise ValueError("at least one non-blank webhook secret is required")
        if tolerance_seconds < 1:
            raise ValueError(f"tolerance must be at least 1 second, got {tolerance_seconds}")
        self._secrets = tuple(secrets)
        self._tolerance = tolerance_seconds
        self._clock = clock

    def verify(self, payload: bytes, header: str | None) -> int:
        """The signed timestamp, or `SignatureError` naming what is wrong."""
        if not header:
            raise SignatureError(
                SignatureProblem.MISSING, f"the {SIGNATURE_HEADER} header is missing"
            )
        timestamp, signatures = _parse_header(header)
        try:
            body = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureError(
                SignatureProblem.BODY_NOT_TEXT, "the body is not UTF-8 text, so it cannot be signed"
            ) from None
        canonical = ",".join([f"t={timestamp}", *(f"{_SCHEME}={s}" for s in signatures)])
        if not signatures or not any(self._matches(body, canonical, s) for s in self._secrets):
            raise SignatureError(
                SignatureProblem.MISMATCH,
                "no signature matches the body with any accepted webhook secret",
            )
        age = self._clock() - timestamp
        if age > self._tolerance:
            raise SignatureError(
                SignatureProblem.STALE,
                f"signature timestamp is {int(age)} s old; the tolerance is {self._tolerance} s",
            )
        if -age > self._tolerance:
            raise SignatureError(
                SignatureProblem.FUTURE,
                f"signature timestamp is {int(-age)} s in the future; "
                f"the tolerance is {self._tolerance} s",
            )
        return timestamp

    @staticmethod
    def _matches(body: str, header: str, secret: str) -> bool:
        try:
            # Tolerance is applied by `verify` with its own clock, in both directions.
            WebhookSignature.verify_header(body, header, secret, tolerance=None)
        except SignatureVerificationError:
            return False
        return True


def signature_header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The header the billing system would send for `payload`: one `v1` per secret."""
    body = payload.decode("utf-8")
    parts = [f"t={timestamp}"]
    for secret in secrets:
        signed = WebhookSignature.generate_signature_header(body, secret, timestamp)
        parts.append(signed.split(",", 1)[1])
    return ",".join(parts)
