"""The billing events the webhook accepts and the lifecycle intent each one carries.

A Stripe event is an envelope (`id`, `type`, `created`, `data.object`). Six types matter:
the subscription's own events and checkout completion carry a snapshot of the
subscription (plan, quantity, status, tenant metadata); the two invoice events carry a
payment outcome. Anything else is acknowledged and recorded as ignored.

Tenant facts come from the subscription's (or checkout session's) metadata: `tenant_id`,
`region`, optionally `residency` (derived from the region when left out) and
`display_name`; the plan comes from the price through configuration (price id or lookup
key). Ordering is settled later by `ledger`, from each intent's `as_of` key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from components.plans import PlanName
from components.spec import (
    REGIONS_BY_RESIDENCY,
    SUPPORTED_REGIONS,
    Residency,
    TenantId,
    residency_of,
)
from control_plane.billing.settings import DEFAULT_MAX_JSON_DEPTH, BillingSettings

MAX_CREATED = 32_503_680_000
"""3000-01-01T00:00:00Z: later `created` values are not real event times (and would
overflow once a grace period is added)."""


class MalformedEvent(ValueError):
    """The body is not an event we can act on; the message names the field and the problem."""


class Action(StrEnum):
    """What the control plane does to a tenant."""

    PROVISION = "provision"
    CHANGE_PLAN = "change-plan"
    """Update the spec to the new plan or quantity and scale."""
    SCHEDULE_SUSPENSION = "schedule-suspension"
    """Suspend after the grace period unless the payment is settled first."""
    CANCEL_SUSPENSION = "cancel-suspension"
    SUSPEND = "suspend"
    """Compute to zero, data kept."""
    RESUME = "resume"
    DEPROVISION = "deprovision"
    """Destroy the bundle; data stores are retained."""


class SubscriptionPhase(StrEnum):
    """What a subscription status means for the tenant."""

    PENDING = "pending"
    """`incomplete`: the first payment has not gone through; nothing is provisioned yet."""
    RUNNING = "running"
    """`trialing`, `active`, `past_due` (payment trouble is handled by invoice events)."""
    SUSPENDED = "suspended"
    """`unpaid`, `paused`: the billing system gave up collecting; compute goes to zero."""
    ENDED = "ended"
    """`canceled`, `incomplete_expired`: final; the tenant is retired."""


_PHASE_BY_STATUS: dict[str, SubscriptionPhase] = {
    "incomplete": SubscriptionPhase.PENDING,
    "trialing": SubscriptionPhase.RUNNING,
    "active": SubscriptionPhase.RUNNING,
    "past_due": SubscriptionPhase.RUNNING,
    "unpaid": SubscriptionPhase.SUSPENDED,
    "paused": SubscriptionPhase.SUSPENDED,
    "canceled": SubscriptionPhase.ENDED,
    "incomplete_expired": SubscriptionPhase.ENDED,
}

SUBSCRIPTION_EVENTS: dict[str, int] = {
    "checkout.session.completed": 0,
    "customer.subscription.created": 1,
    "customer.subscription.updated": 2,
    "customer.subscription.deleted": 3,
}
"""Snapshot event types with their rank, which orders events created in the same second."""
PAYMENT_EVENTS: dict[str, int] = {"invoice.payment_failed": 0, "invoice.paid": 1}
"""Payment event types with their rank (a payment that succeeds after failing wins a tie)."""

_M = TypeVar("_M", bound=BaseModel)

OrderKey = tuple[int, int, str]
"""(created unix time, rank of the event type, event id): a total order over one
subscription's events, so every delivery order folds to the same state."""


class _Lenient(BaseModel):
    # The billing system adds fields over API versions; only the ones we read are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


_EventId = Annotated[str, StringConstraints(pattern=r"^evt_[A-Za-z0-9_]{1,250}$")]
_ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
_SubscriptionId = Annotated[str, StringConstraints(pattern=r"^sub_[A-Za-z0-9_]{1,250}$")]
_ClaimId = Annotated[str, StringConstraints(pattern=r"^upg_[A-Za-z0-9_-]{16,59}$")]


class _Customer(_Lenient):
    id: _ObjectId


_CustomerRef = _ObjectId | _Customer
"""A customer id, or the customer object when the sender expanded it."""


def _customer_id(customer: _CustomerRef | None) -> str | None:
    return customer.id if isinstance(customer, _Customer) else customer


class _EventData(_Lenient):
    object: dict[str, Any]


class _Envelope(_Lenient):
    id: _EventId
    type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    created: int = Field(ge=0, le=MAX_CREATED)
    livemode: bool = False
    data: _EventData


@dataclass(frozen=True)
class BillingEvent:
    """A verified event as received: what the store records and deduplicates by `id`."""

    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]
    body: str
    """The raw body, kept for the audit trail."""
    received_at: datetime


def _describe(error: ValidationError, prefix: str) -> str:
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in (prefix, *item["loc"]) if p != "")
        problems.append(f"{path}: {item['msg']}")
    return "; ".join(problems)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


def _nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (strings do not count). Checked
    before parsing: the parser recurses once per level and would fail deep inside."""
    depth = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET):
        depth = depth + 1 if byte in _OPENING else depth - 1
        if depth > limit:
            return True
    return False


def parse_event(
    body: bytes, received_at: datetime, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH
) -> BillingEvent:
    """The event envelope of a verified body, or `MalformedEvent` naming what is wrong."""
    if _nesting_exceeds(body, max_depth):
        raise MalformedEvent(f"the body nests arrays and objects deeper than {max_depth} levels")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvent(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedEvent(f"the body is a JSON {type(document).__name__}, not an event object")
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        raise MalformedEvent(f"not a billing event: {_describe(error, '')}") from None
    return BillingEvent(
        id=envelope.id,
        type=envelope.type,
        created=datetime.fromtimestamp(envelope.created, UTC),
        livemode=envelope.livemode,
        object=envelope.data.object,
        body=body.decode("utf-8"),
        received_at=received_at,
    )


class _Price(_Lenient):
    id: _ObjectId
    lookup_key: str | None = None


class _SubscriptionItem(_Lenient):
    price: _Price
    quantity: int = Field(default=1, ge=1, le=10_000)


class _SubscriptionItems(_Lenient):
    data: list[_SubscriptionItem] = Field(min_length=1, max_length=1)


class _Subscription(_Lenient):
    object: Literal["subscription"]
    id: _SubscriptionId
    status: Literal[
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "canceled",
        "unpaid",
        "paused",
    ]
    customer: _CustomerRef | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    items: _SubscriptionItems


class _CheckoutSession(_Lenient):
    object: Literal["checkout.session"]
    id: _ObjectId
    mode: Literal["payment", "setup", "subscription"]
    subscription: _SubscriptionId | None = None
    customer: _CustomerRef | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class _SubscriptionDetails(_Lenient):
    subscription: _SubscriptionId | None = None


class _InvoiceParent(_Lenient):
    subscription_details: _SubscriptionDetails | None = None


class _Invoice(_Lenient):
    object: Literal["invoice"]
    id: _ObjectId
    subscription: _SubscriptionId | None = None
    """Where API versions before 2025-03-31 put the subscription."""
    parent: _InvoiceParent | None = None
    """Where later API versions put it (`parent.subscription_details.subscription`)."""

    @property
    def subscription_id(self) -> str | None:
        if self.subscription is not None:
            return self.subscription
        details = self.parent.subscription_details if self.parent else None
        return details.subscription if details else None


class _TenantMetadata(_Lenient):
    tenant_id: TenantId
    region: str
    residency: Residency | None = None
    display_name: str | None = Field(default=None, max_length=128)
    price: str | None = None
    """Checkout sessions only: the price bought (line items are not in the event)."""
    quantity: int = Field(default=1, ge=1, le=10_000)
    """Checkout sessions only: the quantity bought."""
    upgrade_claim: _ClaimId | None = None
    """Set on the checkout of an existing tenant's move to a paid plan (`billing.upgrades`)."""


class SubscriptionSnapshot(BaseModel):
    """What the subscription looks like as of one event."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    customer_id: str | None = None
    """The billing system's customer (`cus_...`) the subscription belongs to."""
    display_name: str | None
    region: str
    residency: Residency
    plan: PlanName
    quantity: int
    """Worker instances paid for; the spec's desired capacity when above one."""
    phase: SubscriptionPhase
    status: str
    """The billing system's own status word."""
    upgrade_claim: str | None = None
    """The plan claim that lets this subscription take an existing tenant, if any."""


class PaymentFact(BaseModel):
    """The latest payment outcome of the subscription."""

    model_config = ConfigDict(frozen=True)

    failed: bool
    at: datetime
    invoice_id: str
    suspend_at: datetime | None
    """When the failure suspends the tenant if nothing is paid before (failures only)."""


class LifecycleIntent(BaseModel):
    """What one event asks of the tenant behind one subscription, as of `as_of`."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    subscription_id: str
    action: Action | None
    """The action the event asks for on its own; `None` while the first payment is pending.
    Whether it happens depends on what the ledger already holds (see `ledger.apply`)."""
    as_of: OrderKey
    snapshot: SubscriptionSnapshot | None = None
    payment: PaymentFact | None = None


@dataclass(frozen=True)
class Ignored:
    """An acknowledged event that asks nothing of a tenant, with the reason."""

    reason: str


EventIntent = LifecycleIntent | Ignored


class IntentMapper:
    """Maps verified events to lifecycle intents with the configured prices and grace."""

    def __init__(self, settings: BillingSettings) -> None:
        self._price_plans = settings.price_plans
        self._grace: timedelta = settings.suspension_grace

    def intent_for(self, event: BillingEvent) -> EventIntent:
        """The event's intent; `MalformedEvent` when a handled event lacks what it needs."""
        if event.type in SUBSCRIPTION_EVENTS:
            return self._snapshot_intent(event)
        if event.type in PAYMENT_EVENTS:
            return self._payment_intent(event)
        return Ignored(f"event type {event.type!r} does not affect tenants")

    def plan_for_price(self, price_id: str, lookup_key: str | None) -> PlanName:
        """The plan a price stands for, by price id first, then by lookup key."""
        for key in (price_id, lookup_key):
            if key is not None and key in self._price_plans:
                return self._price_plans[key]
        known = ", ".join(sorted(self._price_plans))
        shown = price_id if lookup_key is None else f"{price_id} (lookup key {lookup_key!r})"
        raise MalformedEvent(f"price {shown} is not mapped to a plan; configured: {known}")

    def _snapshot_intent(self, event: BillingEvent) -> EventIntent:
        if event.type == "checkout.session.completed":
            session = _validate(_CheckoutSession, event.object)
            if session.mode != "subscription":
                return Ignored(f"checkout session in {session.mode!r} mode starts no subscription")
            if session.subscription is None:
                raise MalformedEvent("data.object.subscription: required in subscription mode")
            metadata = _tenant_metadata(session.metadata)
            if metadata.price is None:
                raise MalformedEvent(
                    "data.object.metadata.price: required on checkout sessions "
                    "(the price id or lookup key bought)"
                )
            subscription_id, customer_id = session.subscription, _customer_id(session.customer)
            plan = self.plan_for_price(metadata.price, None)
            quantity, phase, status = metadata.quantity, SubscriptionPhase.RUNNING, "active"
        else:
            subscription = _validate(_Subscription, event.object)
            metadata = _tenant_metadata(subscription.metadata)
            item = subscription.items.data[0]
            subscription_id = subscription.id
            customer_id = _customer_id(subscription.customer)
            plan = self.plan_for_price(item.price.id, item.price.lookup_key)
            quantity, status = item.quantity, subscription.status
            phase = (
                SubscriptionPhase.ENDED
                if event.type == "customer.subscription.deleted"
                else _PHASE_BY_STATUS[status]
            )
        snapshot = SubscriptionSnapshot(
            tenant_id=metadata.tenant_id,
            customer_id=customer_id,
            display_name=metadata.display_name,
            region=metadata.region,
            residency=_residency(metadata),
            plan=plan,
            quantity=quantity,
            phase=phase,
            status=status,
            upgrade_claim=metadata.upgrade_claim,
        )
        return LifecycleIntent(
            event_id=event.id,
            event_type=event.type,
            subscription_id=subscription_id,
            action=_SNAPSHOT_ACTION[(event.type == "customer.subscription.updated", phase)],
            as_of=_order_key(event, SUBSCRIPTION_EVENTS),
            snapshot=snapshot,
        )

    def _payment_intent(self, event: BillingEvent) -> EventIntent:
        invoice = _validate(_Invoice, event.object)
        subscription_id = invoice.subscription_id
        if subscription_id is None:
            return Ignored(f"invoice {invoice.id} belongs to no subscription")
        failed = event.type == "invoice.payment_failed"
        return LifecycleIntent(
            event_id=event.id,
            event_type=event.type,
            subscription_id=subscription_id,
            action=Action.SCHEDULE_SUSPENSION if failed else Action.RESUME,
            as_of=_order_key(event, PAYMENT_EVENTS),
            payment=PaymentFact(
                failed=failed,
                at=event.created,
                invoice_id=invoice.id,
                suspend_at=event.created + self._grace if failed else None,
            ),
        )


_SNAPSHOT_ACTION: dict[tuple[bool, SubscriptionPhase], Action | None] = {
    (False, SubscriptionPhase.PENDING): None,
    (True, SubscriptionPhase.PENDING): None,
    (False, SubscriptionPhase.RUNNING): Action.PROVISION,
    (True, SubscriptionPhase.RUNNING): Action.CHANGE_PLAN,
    (False, SubscriptionPhase.SUSPENDED): Action.SUSPEND,
    (True, SubscriptionPhase.SUSPENDED): Action.SUSPEND,
    (False, SubscriptionPhase.ENDED): Action.DEPROVISION,
    (True, SubscriptionPhase.ENDED): Action.DEPROVISION,
}
"""(is an update, phase) -> the action a snapshot asks for on its own."""


def _order_key(event: BillingEvent, ranks: dict[str, int]) -> OrderKey:
    return (int(event.created.timestamp()), ranks[event.type], event.id)


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise MalformedEvent(_describe(error, "data.object")) from None


def _tenant_metadata(metadata: dict[str, str]) -> _TenantMetadata:
    try:
        return _TenantMetadata.model_validate(metadata)
    except ValidationError as error:
        raise MalformedEvent(_describe(error, "data.object.metadata")) from None


def _residency(metadata: _TenantMetadata) -> Residency:
    owner = residency_of(metadata.region)
    if owner is None:
        raise MalformedEvent(
            f"data.object.metadata.region: {metadata.region!r} is not a supported region; "
            f"supported: {', '.join(SUPPORTED_REGIONS)}"
        )
    if metadata.residency is not None and metadata.residency is not owner:
        raise MalformedEvent(
            f"data.object.metadata.region: {metadata.region!r} is outside residency "
            f"{metadata.residency.value!r}; allowed: "
            f"{', '.join(REGIONS_BY_RESIDENCY[metadata.residency])}"
        )
    return owner
