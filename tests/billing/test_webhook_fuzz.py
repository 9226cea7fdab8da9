"""Fuzzing the webhook: whatever the body and headers, never a 5xx, and nothing is stored
unless the signature is valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.samples import (
    checkout_completed_event,
    encode,
    invoice_event,
    subscription_event,
)
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header
from control_plane.billing.store import InMemoryBillingStore
from tests.billing.billing_helpers import NOW, SECRET, Clock

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def harness() -> Iterator[tuple[TestClient, InMemoryBillingStore]]:
    store = InMemoryBillingStore()
    app_settings = BillingSettings(webhook_secrets=(SECRET,))
    with TestClient(create_app(app_settings, store, clock=Clock())) as client:
        yield client, store


def _valid_documents() -> list[dict[str, Any]]:
    common: dict[str, Any] = {"subscription_id": "sub_1Fuzz", "created": NOW}
    return [
        subscription_event(
            "customer.subscription.updated",
            event_id="evt_1",
            tenant_id="fuzz",
            plan=PlanName.PRO,
            **common,
        ),
        checkout_completed_event(event_id="evt_2", tenant_id="fuzz", plan=PlanName.FREE, **common),
        invoice_event(
            "invoice.payment_failed",
            event_id="evt_3",
            invoice_id="in_1",
            plan=PlanName.PRO,
            **common,
        ),
    ]


def _mutate(document: Any, path: list[Any], value: Any) -> Any:
    """`document` with the value at `path` (or the deepest existing prefix) replaced."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    if isinstance(document, dict):
        key = list(document)[path[0] % len(document)]
        return {**document, key: _mutate(document[key], path[1:], value)}
    index = path[0] % len(document)
    return [*document[:index], _mutate(document[index], path[1:], value), *document[index + 1 :]]


header_values = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.builds(
        lambda t, sigs: f"t={t}," + ",".join(f"v1={s}" for s in sigs),
        st.integers(min_value=-(10**15), max_value=10**15),
        st.lists(st.text(alphabet="0123456789abcdef", min_size=0, max_size=64), max_size=3),
    ),
)


@FUZZ
@given(body=st.binary(max_size=2000), header=header_values)
def test_unsigned_garbage_is_refused_and_never_stored(
    harness: tuple[TestClient, InMemoryBillingStore], body: bytes, header: str | None
) -> None:
    client, store = harness
    before = len(store.events)
    headers = {} if header is None else {"Stripe-Signature": header}
    try:
        response = client.post("/hooks/billing", content=body, headers=headers)
    except UnicodeEncodeError:
        return  # a header the HTTP client itself cannot send
    assert response.status_code == 400
    assert response.json()["error"] in {"signature", "payload"}
    assert len(store.events) == before


@FUZZ
@given(
    which=st.integers(min_value=0, max_value=2),
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    value=json_values,
    event_id=st.from_regex(r"evt_[A-Za-z0-9]{1,20}", fullmatch=True),
)
def test_signed_mutated_events_never_cause_a_server_error(
    harness: tuple[TestClient, InMemoryBillingStore],
    which: int,
    path: list[int],
    value: Any,
    event_id: str,
) -> None:
    client, store = harness
    document = {**_valid_documents()[which], "id": event_id}
    body = json.dumps(_mutate(document, path, value)).encode()
    headers = {"Stripe-Signature": signature_header(body, (SECRET,), NOW)}
    response = client.post("/hooks/billing", content=body, headers=headers)
    assert response.status_code in {200, 400}, response.text
    if response.status_code == 200:
        assert response.json()["id"] in store.events
    else:
        assert response.json()["error"] == "payload"
        assert response.json()["detail"]


@FUZZ
@given(body=st.binary(min_size=1, max_size=500), secret=st.text(min_size=1, max_size=30))
def test_a_body_signed_with_another_secret_is_never_stored(
    harness: tuple[TestClient, InMemoryBillingStore], body: bytes, secret: str
) -> None:
    client, store = harness
    if secret == SECRET or not secret.strip():
        return
    document_body = encode(_valid_documents()[0]) if body[0] % 2 else body
    try:
        header = signature_header(document_body, (secret,), NOW)
    except UnicodeDecodeError:
        header = f"t={NOW},v1={'0' * 64}"
    before = len(store.events)
    response = client.post(
        "/hooks/billing", content=document_body, headers={"Stripe-Signature": header}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "signature"
    assert len(store.events) == before
