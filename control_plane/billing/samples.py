"""Realistic billing events (Stripe's shapes) for the demo, the benchmark and the tests.

The bodies carry what the billing system sends (envelope, API version, customer, price
with its lookup key and amount, subscription item, metadata), not just the fields the
webhook reads, so the webhook is exercised on what it will really receive.
"""

from __future__ import annotations

import json
from typing import Any

from components.plans import PlanName, get_plan

API_VERSION = "2025-10-29.clover"


def _cents(plan: PlanName) -> int:
    return int(get_plan(plan).pricing.monthly * 100)


def _envelope(event_id: str, event_type: str, created: int, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def subscription_event(
    event_type: str,
    *,
    event_id: str,
    created: int,
    subscription_id: str,
    tenant_id: str,
    plan: PlanName,
    region: str = "eu-west-1",
    status: str = "active",
    quantity: int = 1,
    customer: str = "cus_Q8s1TenantDemo",
    display_name: str | None = None,
    lookup_key: str | None = None,
    upgrade_claim: str | None = None,
) -> dict[str, Any]:
    """A `customer.subscription.*` event on the price whose lookup key is `<plan>-monthly`."""
    metadata = {"tenant_id": tenant_id, "region": region}
    if display_name:
        metadata["display_name"] = display_name
    if upgrade_claim:
        metadata["upgrade_claim"] = upgrade_claim
    price = {
        "id": f"price_1{plan.value.capitalize()}Monthly",
        "object": "price",
        "active": True,
        "currency": "usd",
        "lookup_key": lookup_key or f"{plan.value}-monthly",
        "product": f"prod_{plan.value.capitalize()}Bundle",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "type": "recurring",
        "unit_amount": _cents(plan),
    }
    subscription = {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "cancel_at_period_end": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{subscription_id.removeprefix('sub_')}",
                    "object": "subscription_item",
                    "price": price,
                    "quantity": quantity,
                    "subscription": subscription_id,
                }
            ],
            "has_more": False,
        },
        "metadata": metadata,
    }
    return _envelope(event_id, event_type, created, subscription)


def checkout_completed_event(
    *,
    event_id: str,
    created: int,
    subscription_id: str,
    tenant_id: str,
    plan: PlanName,
    region: str = "eu-west-1",
    customer: str = "cus_Q8s1TenantDemo",
    upgrade_claim: str | None = None,
) -> dict[str, Any]:
    """A `checkout.session.completed` event of a subscription checkout."""
    metadata = {"tenant_id": tenant_id, "region": region, "price": f"{plan.value}-monthly"}
    if upgrade_claim:
        metadata["upgrade_claim"] = upgrade_claim
    session = {
        "id": f"cs_test_{subscription_id.removeprefix('sub_')}",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "subscription": subscription_id,
        "amount_total": _cents(plan),
        "currency": "usd",
        "metadata": metadata,
    }
    return _envelope(event_id, "checkout.session.completed", created, session)


def invoice_event(
    event_type: str,
    *,
    event_id: str,
    created: int,
    subscription_id: str,
    invoice_id: str,
    plan: PlanName,
    customer: str = "cus_Q8s1TenantDemo",
) -> dict[str, Any]:
    """An `invoice.paid` or `invoice.payment_failed` event (2025 API shape, with `parent`)."""
    paid = event_type == "invoice.paid"
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status": "paid" if paid else "open",
        "amount_due": _cents(plan),
        "amount_paid": _cents(plan) if paid else 0,
        "attempt_count": 1,
        "billing_reason": "subscription_cycle",
        "currency": "usd",
        "created": created,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id, "metadata": {}},
        },
    }
    return _envelope(event_id, event_type, created, invoice)


def encode(event: dict[str, Any]) -> bytes:
    """The body as the billing system sends it (pretty-printed JSON)."""
    return json.dumps(event, indent=2).encode("utf-8")
