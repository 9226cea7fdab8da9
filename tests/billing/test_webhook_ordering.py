"""The ledger: out-of-order and repeated deliveries converge; old events never roll back;
the full subscription lifecycle, with the grace period under a controlled clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.plans import PlanName
from control_plane.billing.events import Action, IntentMapper, LifecycleIntent, parse_event
from control_plane.billing.ledger import (
    DesiredTenant,
    SubscriptionState,
    TenantPhase,
    apply,
    desired,
)
from control_plane.billing.samples import encode, invoice_event, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import InMemoryBillingStore, Outcome
from tests.billing.billing_helpers import NOW, Clock, Sender

SUB = "sub_1Acme"
T0 = NOW - 30 * 86400
"""The subscription starts 30 days before the tests' "now"."""


def _at(days: float) -> int:
    return int(T0 + days * 86400)


def _sub(event_type: str, event_id: str, days: float, **fields: Any) -> dict[str, Any]:
    return subscription_event(
        event_type,
        event_id=event_id,
        created=_at(days),
        subscription_id=SUB,
        tenant_id="acme",
        plan=fields.pop("plan", PlanName.STARTER),
        **fields,
    )


def _invoice(event_type: str, event_id: str, days: float) -> dict[str, Any]:
    return invoice_event(
        event_type,
        event_id=event_id,
        created=_at(days),
        subscription_id=SUB,
        invoice_id=f"in_{event_id}",
        plan=PlanName.PRO,
    )


def _intents(settings: BillingSettings, documents: list[dict[str, Any]]) -> list[LifecycleIntent]:
    mapper = IntentMapper(settings)
    out = []
    for document in documents:
        intent = mapper.intent_for(parse_event(encode(document), datetime.now(UTC)))
        assert isinstance(intent, LifecycleIntent)
        out.append(intent)
    return out


def _fold(intents: list[LifecycleIntent], now: datetime) -> SubscriptionState | None:
    state: SubscriptionState | None = None
    for intent in intents:
        state = apply(state, intent, now).state
    return state


HISTORY = [
    _sub("customer.subscription.created", "evt_01Created", 0, status="incomplete"),
    _invoice("invoice.paid", "evt_02FirstPaid", 0),
    _sub("customer.subscription.updated", "evt_03Active", 0),
    _sub("customer.subscription.updated", "evt_04Upgrade", 10, plan=PlanName.PRO),
    _sub("customer.subscription.updated", "evt_05Scale", 12, plan=PlanName.PRO, quantity=4),
    _invoice("invoice.payment_failed", "evt_06Failed", 20),
    _invoice("invoice.paid", "evt_07Paid", 21),
    _invoice("invoice.payment_failed", "evt_08FailedAgain", 25),
]
"""One subscription's events in creation order; the last failure is 5 days before "now"."""


def test_in_order_history_ends_suspended_on_pro_with_four_workers(
    settings: BillingSettings,
) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    state = _fold(_intents(settings, HISTORY), now)
    assert desired(state, now) == DesiredTenant(
        phase=TenantPhase.SUSPENDED,
        tenant_id="acme",
        plan=PlanName.PRO,
        quantity=4,
        region="eu-west-1",
        residency="eu",
    )


@pytest.mark.parametrize("seed", range(25))
def test_shuffled_deliveries_converge_to_the_same_state(
    settings: BillingSettings, seed: int
) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    intents = _intents(settings, HISTORY)
    expected = _fold(intents, now)
    shuffled = intents[:]
    random.Random(seed).shuffle(shuffled)
    # Some deliveries repeat, as at-least-once delivery does.
    shuffled += random.Random(seed).sample(intents, 3)
    assert _fold(shuffled, now) == expected


def test_an_old_update_after_a_newer_one_does_not_roll_back(settings: BillingSettings) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    created, upgrade, old_update = _intents(
        settings,
        [
            _sub("customer.subscription.created", "evt_1C", 0),
            _sub("customer.subscription.updated", "evt_2Pro", 10, plan=PlanName.PRO),
            _sub("customer.subscription.updated", "evt_3Starter", 5, plan=PlanName.STARTER),
        ],
    )
    state = _fold([created, upgrade], now)
    decision = apply(state, old_update, now)
    assert decision.action is None
    assert decision.state == state
    assert decision.desired.plan is PlanName.PRO
    assert decision.reason.startswith("customer.subscription.updated not applied: a newer")


def test_an_update_before_the_create_provisions_and_the_late_create_changes_nothing(
    settings: BillingSettings,
) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    created, upgrade = _intents(
        settings,
        [
            _sub("customer.subscription.created", "evt_1C", 0),
            _sub("customer.subscription.updated", "evt_2Pro", 0, plan=PlanName.PRO),
        ],
    )
    first = apply(None, upgrade, now)
    assert first.action is Action.PROVISION
    assert first.desired.plan is PlanName.PRO
    late = apply(first.state, created, now)
    assert late.action is None
    assert late.desired.plan is PlanName.PRO


def test_nothing_revives_a_deleted_subscription(settings: BillingSettings) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    created, deleted, later_update, paid = _intents(
        settings,
        [
            _sub("customer.subscription.created", "evt_1C", 0),
            _sub("customer.subscription.deleted", "evt_2D", 5, status="canceled"),
            _sub("customer.subscription.updated", "evt_3U", 9, plan=PlanName.PRO),
            _invoice("invoice.paid", "evt_4P", 9),
        ],
    )
    state = _fold([created, deleted], now)
    decision = apply(state, later_update, now)
    assert decision.action is None
    assert "the subscription has ended" in decision.reason
    assert apply(state, paid, now).desired.phase is TenantPhase.RETIRED


def test_a_subscription_cannot_move_to_another_tenant(settings: BillingSettings) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    created, moved = _intents(
        settings,
        [
            _sub("customer.subscription.created", "evt_1C", 0),
            subscription_event(
                "customer.subscription.updated",
                event_id="evt_2Moved",
                created=_at(3),
                subscription_id=SUB,
                tenant_id="globex",
                plan=PlanName.PRO,
            ),
        ],
    )
    state = _fold([created], now)
    decision = apply(state, moved, now)
    assert decision.action is None
    assert "tenant_id cannot change on a subscription ('acme' -> 'globex')" in decision.reason
    assert decision.state == state


def test_payment_trouble_before_the_subscription_is_known_is_kept(
    settings: BillingSettings,
) -> None:
    now = datetime.fromtimestamp(_at(1), UTC)
    failed, created = _intents(
        settings,
        [
            _invoice("invoice.payment_failed", "evt_1F", 0),
            _sub("customer.subscription.created", "evt_2C", 0),
        ],
    )
    first = apply(None, failed, now)
    assert first.action is None
    second = apply(first.state, created, now)
    assert second.action is Action.PROVISION
    assert second.desired.suspend_at == datetime.fromtimestamp(_at(3), UTC)


def _post_all(sender: Sender, documents: list[dict[str, Any]]) -> None:
    for document in documents:
        response = sender.post(document)
        assert response.status_code == 200, response.text


def test_shuffled_deliveries_through_the_webhook_converge(
    sender: Sender, memory_store: InMemoryBillingStore
) -> None:
    documents = HISTORY[:]
    random.Random(7).shuffle(documents)
    _post_all(sender, documents + documents[:2])
    state = memory_store.ledgers[SUB]
    now = datetime.fromtimestamp(NOW, UTC)
    assert desired(state, now).phase is TenantPhase.SUSPENDED
    assert (state.snapshot_key, state.payment_key) == (
        (_at(12), 2, "evt_05Scale"),
        (_at(25), 0, "evt_08FailedAgain"),
    )
    assert len(memory_store.events) == len(HISTORY)


def test_full_lifecycle_from_events(
    sender: Sender, memory_store: InMemoryBillingStore, clock: Clock
) -> None:
    """created -> active -> upgrade -> payment failed -> suspended after the grace period ->
    paid -> active -> deleted -> retired (data retained)."""
    actions: list[Action | None] = []

    def deliver(document: dict[str, Any]) -> None:
        before = len(memory_store.decisions)
        response = sender.post(document)
        assert response.status_code == 200, response.text
        after = memory_store.decisions[before:]
        actions.append(after[0].action if after else None)

    def tenant() -> DesiredTenant:
        return desired(memory_store.ledgers[SUB], datetime.fromtimestamp(clock.now, UTC))

    clock.now = _at(0)
    deliver(_sub("customer.subscription.created", "evt_1Created", 0))
    assert tenant().phase is TenantPhase.ACTIVE
    assert tenant().plan is PlanName.STARTER

    clock.now = _at(3)
    deliver(_sub("customer.subscription.updated", "evt_2Upgrade", 3, plan=PlanName.PRO))
    assert tenant().plan is PlanName.PRO

    clock.now = _at(10)
    deliver(_invoice("invoice.payment_failed", "evt_3Failed", 10))
    assert tenant().phase is TenantPhase.ACTIVE
    assert tenant().suspend_at == datetime.fromtimestamp(_at(13), UTC)

    clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert tenant().phase is TenantPhase.ACTIVE
    clock.advance(timedelta(seconds=1))
    assert tenant().phase is TenantPhase.SUSPENDED

    clock.now = _at(14)
    deliver(_invoice("invoice.paid", "evt_4Paid", 14))
    assert tenant().phase is TenantPhase.ACTIVE
    assert tenant().suspend_at is None

    clock.now = _at(20)
    deliver(
        _sub(
            "customer.subscription.deleted",
            "evt_5Deleted",
            20,
            plan=PlanName.PRO,
            status="canceled",
        )
    )
    assert tenant().phase is TenantPhase.RETIRED

    assert actions == [
        Action.PROVISION,
        Action.CHANGE_PLAN,
        Action.SCHEDULE_SUSPENSION,
        Action.RESUME,
        Action.DEPROVISION,
    ]
    assert [memory_store.events[e].outcome for e in sender.sent] == [Outcome.APPLIED] * 5


def test_a_payment_before_the_grace_ends_cancels_the_pending_suspension(
    sender: Sender, memory_store: InMemoryBillingStore, clock: Clock
) -> None:
    clock.now = _at(0)
    _post_all(sender, [_sub("customer.subscription.created", "evt_1C", 0)])
    clock.now = _at(10)
    _post_all(sender, [_invoice("invoice.payment_failed", "evt_2F", 10)])
    clock.now = _at(11)
    _post_all(sender, [_invoice("invoice.paid", "evt_3P", 11)])
    assert [d.action for d in memory_store.decisions] == [
        Action.PROVISION,
        Action.SCHEDULE_SUSPENSION,
        Action.CANCEL_SUSPENSION,
    ]


@pytest.mark.parametrize(
    ("status", "phase"), [("active", TenantPhase.ACTIVE), ("past_due", TenantPhase.SUSPENDED)]
)
def test_a_later_subscription_status_decides_whether_a_failure_still_suspends(
    settings: BillingSettings, status: str, phase: TenantPhase
) -> None:
    """Without the `invoice.paid` delivery, a newer `active` snapshot means the invoice
    was settled; a `past_due` one means it is still outstanding."""
    now = datetime.fromtimestamp(_at(20), UTC)
    intents = _intents(
        settings,
        [
            _sub("customer.subscription.created", "evt_1C", 0),
            _invoice("invoice.payment_failed", "evt_2F", 10),
            _sub("customer.subscription.updated", "evt_3U", 11, status=status),
        ],
    )
    assert desired(_fold(intents, now), now).phase is phase
