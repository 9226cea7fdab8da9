"""Signature verification: Stripe's scheme, rotation, several signatures, tolerance both ways."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from components.plans import PlanName
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.signature import (
    SignatureError,
    SignatureProblem,
    SignatureVerifier,
    signature_header,
)
from control_plane.billing.store import InMemoryBillingStore
from tests.billing.billing_helpers import NOW, OLD_SECRET, SECRET, Clock, Sender

BODY = b'{"id": "evt_1", "type": "customer.subscription.created"}'


def _v1(body: bytes, secret: str, timestamp: int) -> str:
    """Stripe's documented scheme, computed independently of the code under test."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _verifier(*secrets: str, now: float = NOW) -> SignatureVerifier:
    return SignatureVerifier(secrets or (SECRET,), clock=lambda: now)


def _problem(verifier: SignatureVerifier, body: bytes, header: str | None) -> SignatureProblem:
    with pytest.raises(SignatureError) as caught:
        verifier.verify(body, header)
    return caught.value.problem


def test_a_valid_signature_returns_its_timestamp() -> None:
    header = f"t={NOW},v1={_v1(BODY, SECRET, NOW)}"
    assert _verifier().verify(BODY, header) == NOW


def test_the_header_helper_matches_the_documented_scheme() -> None:
    assert signature_header(BODY, (SECRET,), NOW) == f"t={NOW},v1={_v1(BODY, SECRET, NOW)}"


def test_a_wrong_secret_is_a_mismatch() -> None:
    header = f"t={NOW},v1={_v1(BODY, 'whsec_someone_else', NOW)}"
    with pytest.raises(SignatureError, match="no signature matches the body") as caught:
        _verifier().verify(BODY, header)
    assert caught.value.problem is SignatureProblem.MISMATCH


def test_a_tampered_body_is_a_mismatch() -> None:
    header = f"t={NOW},v1={_v1(BODY, SECRET, NOW)}"
    tampered = BODY.replace(b"evt_1", b"evt_2")
    assert _problem(_verifier(), tampered, header) is SignatureProblem.MISMATCH


def test_a_changed_timestamp_breaks_the_signature() -> None:
    header = f"t={NOW + 1},v1={_v1(BODY, SECRET, NOW)}"
    assert _problem(_verifier(), BODY, header) is SignatureProblem.MISMATCH


def test_a_stale_timestamp_is_refused_with_its_age() -> None:
    then = NOW - 301
    header = f"t={then},v1={_v1(BODY, SECRET, then)}"
    with pytest.raises(SignatureError, match="301 s old; the tolerance is 300 s") as caught:
        _verifier().verify(BODY, header)
    assert caught.value.problem is SignatureProblem.STALE


def test_a_timestamp_at_the_edge_of_the_tolerance_passes() -> None:
    for then in (NOW - 300, NOW + 300):
        assert _verifier().verify(BODY, f"t={then},v1={_v1(BODY, SECRET, then)}") == then


def test_a_future_timestamp_beyond_the_tolerance_is_refused() -> None:
    then = NOW + 301
    header = f"t={then},v1={_v1(BODY, SECRET, then)}"
    with pytest.raises(SignatureError, match="301 s in the future") as caught:
        _verifier().verify(BODY, header)
    assert caught.value.problem is SignatureProblem.FUTURE


def test_the_tolerance_is_configurable() -> None:
    then = NOW - 100
    header = f"t={then},v1={_v1(BODY, SECRET, then)}"
    strict = SignatureVerifier((SECRET,), tolerance_seconds=60, clock=lambda: NOW)
    assert _problem(strict, BODY, header) is SignatureProblem.STALE
    assert _verifier().verify(BODY, header) == then


def test_any_of_several_v1_signatures_may_match() -> None:
    header = (
        f"t={NOW},v1={_v1(BODY, 'whsec_unknown', NOW)},v1={_v1(BODY, SECRET, NOW)},v0={'0' * 64}"
    )
    assert _verifier().verify(BODY, header) == NOW


def test_a_rotated_secret_is_accepted_alongside_the_new_one() -> None:
    verifier = _verifier(SECRET, OLD_SECRET)
    for secret in (SECRET, OLD_SECRET):
        assert verifier.verify(BODY, f"t={NOW},v1={_v1(BODY, secret, NOW)}") == NOW
    retired = _verifier(SECRET)
    header = f"t={NOW},v1={_v1(BODY, OLD_SECRET, NOW)}"
    assert _problem(retired, BODY, header) is SignatureProblem.MISMATCH


@pytest.mark.parametrize(
    ("header", "problem", "message"),
    [
        (None, SignatureProblem.MISSING, "header is missing"),
        ("", SignatureProblem.MISSING, "header is missing"),
        ("v1=abc", SignatureProblem.MALFORMED, "exactly one t="),
        (f"t={NOW}", SignatureProblem.MALFORMED, "has no v1="),
        (f"t={NOW},t={NOW},v1=ab", SignatureProblem.MALFORMED, "exactly one t="),
        ("t=yesterday,v1=ab", SignatureProblem.MALFORMED, "exactly one t="),
        ("t=-5,v1=ab", SignatureProblem.MALFORMED, "exactly one t="),
        ("t=99999999999999999999,v1=ab", SignatureProblem.MALFORMED, "out of range"),
        ("garbage", SignatureProblem.MALFORMED, "is not key=value"),
        (f"t={NOW},v1=" + "é" * 64, SignatureProblem.MISMATCH, "no signature matches"),
        ("t=1," + "v1=a," * 1000, SignatureProblem.MALFORMED, "longer than"),
    ],
)
def test_malformed_headers_name_the_problem(
    header: str | None, problem: SignatureProblem, message: str
) -> None:
    with pytest.raises(SignatureError, match=message) as caught:
        _verifier().verify(BODY, header)
    assert caught.value.problem is problem


def test_a_body_that_is_not_utf8_cannot_be_signed() -> None:
    body = b"\xff\xfe{}"
    header = f"t={NOW},v1={'a' * 64}"
    assert _problem(_verifier(), body, header) is SignatureProblem.BODY_NOT_TEXT


def test_a_verifier_needs_a_secret_and_a_positive_tolerance() -> None:
    with pytest.raises(ValueError, match="non-blank webhook secret"):
        SignatureVerifier(())
    with pytest.raises(ValueError, match="non-blank webhook secret"):
        SignatureVerifier(("  ",))
    with pytest.raises(ValueError, match="at least 1 second"):
        SignatureVerifier((SECRET,), tolerance_seconds=0)


def _created(tenant: str = "acme") -> dict[str, object]:
    return subscription_event(
        "customer.subscription.created",
        event_id="evt_1Created",
        created=NOW - 10,
        subscription_id="sub_1Acme",
        tenant_id=tenant,
        plan=PlanName.STARTER,
    )


def test_the_webhook_refuses_a_bad_signature_and_stores_nothing(
    sender: Sender, memory_store: InMemoryBillingStore
) -> None:
    body = encode(_created())
    bad = {"Stripe-Signature": f"t={NOW},v1={_v1(body, 'whsec_wrong', NOW)}"}
    response = sender.client.post("/hooks/billing", content=body, headers=bad)
    assert response.status_code == 400
    assert response.json() == {
        "error": "signature",
        "detail": "no signature matches the body with any accepted webhook secret",
    }
    assert memory_store.events == {}


def test_the_webhook_refuses_a_stale_delivery_and_stores_nothing(
    sender: Sender, memory_store: InMemoryBillingStore, clock: Clock
) -> None:
    body = encode(_created())
    headers = sender.headers(body, timestamp=int(clock.now) - 3600)
    response = sender.client.post("/hooks/billing", content=body, headers=headers)
    assert response.status_code == 400
    assert "3600 s old" in response.json()["detail"]
    assert memory_store.events == {}


def test_the_webhook_refuses_a_missing_signature(sender: Sender) -> None:
    response = sender.client.post("/hooks/billing", content=encode(_created()))
    assert response.status_code == 400
    assert response.json()["detail"] == "the Stripe-Signature header is missing"


def test_the_webhook_accepts_the_old_secret_during_rotation(
    sender: Sender, memory_store: InMemoryBillingStore
) -> None:
    sender.secrets = (OLD_SECRET,)
    assert sender.post(_created()).status_code == 200
    assert "evt_1Created" in memory_store.events
