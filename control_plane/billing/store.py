"""Where the webhook persists events: the `BillingStore` protocol and two stores.

A store records an event once per event id and, in the same transaction, folds its intent
into the subscription's ledger: the ledger is the desired change, which
`control_plane.billing.reconcile` then requests from the registry. A delivery is wholly
kept or not at all, and a duplicate changes nothing. The SQL store also takes an optional
hook that records more in that same transaction.

A tenant id belongs to the first subscription that names it (and, once the tenant exists,
to the subscription bound to it in `billing_tenant_owners`): an event of another
subscription naming it is recorded as refused and changes nothing. An unbound tenant's
open plan claim, named by the event, lets its subscription through (`billing.upgrades`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, text, update
from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ResourceClosedError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from control_plane.billing.events import BillingEvent, EventIntent, Ignored
from control_plane.billing.ledger import Decision, SubscriptionState, apply
from control_plane.billing.upgrades import matching_claim
from control_plane.registry.billing_models import (
    BillingEventRecord,
    SubscriptionLedger,
    TenantOwner,
)
from control_plane.registry.database import Database


class Outcome(StrEnum):
    """What a recorded event did."""

    APPLIED = "applied"
    """It caused a lifecycle action."""
    UNCHANGED = "unchanged"
    """It was folded into the ledger but asked for nothing new (stale or repeated facts)."""
    IGNORED = "ignored"
    """Its type (or content) does not concern tenants."""
    REFUSED = "refused"
    """It names a tenant that belongs to another subscription; nothing was applied."""


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event and what it did."""

    event_id: str
    event_type: str
    subscription_id: str | None
    tenant_id: str | None
    outcome: Outcome
    reason: str
    decision: Decision | None


class BillingStore(Protocol):
    """Durable, deduplicated event storage."""

    def record(self, event: BillingEvent, intent: EventIntent) -> bool:
        """Store the event and its effect atomically; `False` when the id was already stored."""
        ...

    def ping(self) -> None:
        """Raise when the store cannot take events (the readiness probe)."""
        ...


def claimed_tenant(intent: EventIntent, state: SubscriptionState | None) -> str | None:
    """The tenant id this event would claim for its subscription: the first snapshot's."""
    if isinstance(intent, Ignored) or intent.snapshot is None:
        return None
    if state is not None and state.tenant_id is not None:
        return None  # already claimed (a different id is an identity conflict in the ledger)
    return intent.snapshot.tenant_id


def taken_reason(tenant_id: str, owner: str) -> str:
    return (
        f"tenant {tenant_id!r} belongs to subscription {owner}; "
        f"another subscription cannot provision or change it"
    )


def _fold(
    event: BillingEvent,
    intent: EventIntent,
    state: SubscriptionState | None,
    owner: str | None = None,
) -> RecordedEvent:
    """What the event does to its subscription; `owner` is the other subscription that
    already holds the tenant id the event would claim, if any."""
    if isinstance(intent, Ignored):
        return RecordedEvent(event.id, event.type, None, None, Outcome.IGNORED, intent.reason, None)
    if owner is not None:
        claimed = claimed_tenant(intent, state)
        assert claimed is not None
        reason = f"{event.type} refused: {taken_reason(claimed, owner)}"
        return RecordedEvent(
            event.id, event.type, intent.subscription_id, None, Outcome.REFUSED, reason, None
        )
    decision = apply(state, intent, event.received_at)
    return RecordedEvent(
        event_id=event.id,
        event_type=event.type,
        subscription_id=intent.subscription_id,
        tenant_id=decision.state.tenant_id,
        outcome=Outcome.APPLIED if decision.action else Outcome.UNCHANGED,
        reason=decision.reason,
        decision=decision,
    )


class InMemoryBillingStore:
    """A process-local store (tests and the demo); one lock makes each record atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, RecordedEvent] = {}
        self.ledgers: dict[str, SubscriptionState] = {}
        self.decisions: list[Decision] = []
        """Decisions that caused an action, in the order they were recorded."""

    def record(self, event: BillingEvent, intent: EventIntent) -> bool:
        with self._lock:
            if event.id in self.events:
                return False
            subscription_id = None if isinstance(intent, Ignored) else intent.subscription_id
            state = self.ledgers.get(subscription_id) if subscription_id else None
            claimed = claimed_tenant(intent, state)
            owner = next(
                (
                    other
                    for other, ledger in self.ledgers.items()
                    if claimed is not None and ledger.tenant_id == claimed
                ),
                None,
            )
            recorded = _fold(event, intent, state, owner)
            self.events[event.id] = recorded
            if recorded.decision is not None and subscription_id is not None:
                self.ledgers[subscription_id] = recorded.decision.state
                if recorded.decision.action is not None:
                    self.decisions.append(recorded.decision)
            return True

    def ping(self) -> None:
        return None


DecisionHook = Callable[[Session, BillingEvent, Decision], None]
"""Records the desired change of an applied decision in the store's transaction (the
registry's tenant use cases and job queue); it raises to refuse the delivery."""

_EVENTS = cast("Table", BillingEventRecord.__table__)
_LEDGERS = cast("Table", SubscriptionLedger.__table__)
_OWNERS = cast("Table", TenantOwner.__table__)
# Built once: statements with bound parameters skip per-call construction and caching work.
_FIND_EVENT = select(_EVENTS.c.id).where(_EVENTS.c.id == bindparam("id"))
_FIND_LEDGER = select(_LEDGERS.c.state).where(_LEDGERS.c.id == bindparam("id")).with_for_update()
_FIND_CLAIM = (
    select(_LEDGERS.c.id)
    .where(_LEDGERS.c.tenant_id == bindparam("tenant_id"), _LEDGERS.c.id != bindparam("id"))
    .order_by(_LEDGERS.c.id)
    .limit(1)
)
_FIND_OWNER = select(_OWNERS.c.subscription_id).where(_OWNERS.c.tenant_id == bindparam("tenant_id"))
_INSERT_EVENT = insert(_EVENTS)
_INSERT_LEDGER = insert(_LEDGERS)
_UPDATE_LEDGER = (
    update(_LEDGERS)
    .where(_LEDGERS.c.id == bindparam("ledger_id"))
    .values(
        tenant_id=bindparam("new_tenant_id"),
        state=bindparam("new_state"),
        updated_at=bindparam("new_updated_at"),
    )
)

_CONNECTION_ERRORS = (OperationalError, InterfaceError, ResourceClosedError)
"""Failures of the database or the connection rather than of one delivery."""


@dataclass
class _Delivery:
    """One `record` call waiting for the writer."""

    event: BillingEvent
    intent: EventIntent
    done: threading.Event = field(default_factory=threading.Event)
    recorded: bool = False
    error: BaseException | None = None


class SqlBillingStore:
    """Events and ledgers in the registry database (SQLite or PostgreSQL).

    One writer thread commits whatever deliveries are waiting in a single transaction
    (group commit), each in its own savepoint so a failing hook refuses only its own
    delivery; `record` returns once that transaction is committed. SQLite takes one writer
    at a time, so this turns a queue of lock waits into one commit per batch.
    """

    def __init__(
        self,
        database: Database,
        on_decision: DecisionHook | None = None,
        *,
        max_batch: int = 256,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._database = database
        self._on_decision = on_decision
        self._max_batch = max_batch
        self._pending: queue.SimpleQueue[_Delivery | None] = queue.SimpleQueue()
        self._connection: Connection | None = None
        self._writer = threading.Thread(target=self._write, name="billing-writer", daemon=True)
        self._writer.start()
        self._closed = False

    def record(self, event: BillingEvent, intent: EventIntent) -> bool:
        if self._closed:
            raise RuntimeError("the billing store is closed")
        delivery = _Delivery(event, intent)
        self._pending.put(delivery)
        delivery.done.wait()
        if delivery.error is not None:
            raise delivery.error
        return delivery.recorded

    def close(self) -> None:
        """Finish the queued deliveries and stop the writer."""
        self._closed = True
        self._pending.put(None)
        self._writer.join()

    def _write(self) -> None:
        try:
            self._write_batches()
        finally:
            if self._connection is not None:
                self._connection.close()

    def _write_batches(self) -> None:
        stopping = False
        while not stopping:
            first = self._pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Delivery]) -> None:
        try:
            # The writer keeps one connection: reconnecting per batch costs more than the
            # batch (and on SQLite, closing the last connection checkpoints the WAL).
            if self._connection is None:
                self._connection = self._database.engine.connect()
            with Session(bind=self._connection) as session, session.begin():
                for delivery in batch:
                    self._record_one(session, delivery)
        except Exception as error:  # noqa: BLE001 - handed to every waiting request
            for delivery in batch:
                if delivery.error is None:
                    delivery.recorded, delivery.error = False, error
            # It may be the connection that failed; the next batch starts on a fresh one.
            broken, self._connection = self._connection, None
            if broken is not None:
                with suppress(SQLAlchemyError):
                    broken.invalidate()
                with suppress(SQLAlchemyError):
                    broken.close()
        finally:
            for delivery in batch:
                delivery.done.set()

    def _record_one(self, session: Session, delivery: _Delivery) -> None:
        try:
            with session.begin_nested():
                delivery.recorded = self._record(session, delivery.event, delivery.intent)
        except IntegrityError as error:
            # Another process committed the same event id first (PostgreSQL); SQLite
            # serialises writers, so the lookup in `_record` already saw it there.
            if not self._stored(session, delivery.event.id):
                delivery.error = error
        except _CONNECTION_ERRORS:
            raise  # the whole batch failed with its connection
        except Exception as error:  # noqa: BLE001 - handed to the waiting request
            delivery.error = error

    @staticmethod
    def _stored(session: Session, event_id: str) -> bool:
        return session.connection().execute(_FIND_EVENT, {"id": event_id}).first() is not None

    def _record(self, session: Session, event: BillingEvent, intent: EventIntent) -> bool:
        connection = session.connection()
        if connection.execute(_FIND_EVENT, {"id": event.id}).first() is not None:
            return False
        state: SubscriptionState | None = None
        subscription_id = None if isinstance(intent, Ignored) else intent.subscription_id
        if subscription_id is not None:
            row = connection.execute(_FIND_LEDGER, {"id": subscription_id}).first()
            if row is not None:
                state = SubscriptionState.model_validate(row.state)
        claimed = claimed_tenant(intent, state)
        owner = None if claimed is None else self._owner(connection, claimed, subscription_id)
        if owner is not None and self._claimed_upgrade(session, intent, event):
            owner = None  # the tenant's own user asked for this subscription; see `upgrades`
        recorded = _fold(event, intent, state, owner)
        decision = recorded.decision
        connection.execute(
            _INSERT_EVENT,
            {
                "id": event.id,
                "type": event.type,
                "created_at": event.created,
                "received_at": event.received_at,
                "livemode": event.livemode,
                "subscription_id": recorded.subscription_id,
                "tenant_id": recorded.tenant_id,
                "outcome": recorded.outcome.value,
                "action": decision.action.value if decision and decision.action else None,
                "reason": recorded.reason,
                "body": event.body,
            },
        )
        if recorded.outcome is Outcome.REFUSED:
            self._refuse(connection, subscription_id, state, recorded.reason, event)
        if decision is not None:
            tenant_id = decision.state.tenant_id
            dumped = decision.state.model_dump(mode="json")
            if state is None:
                connection.execute(
                    _INSERT_LEDGER,
                    {
                        "id": subscription_id,
                        "tenant_id": tenant_id,
                        "state": dumped,
                        "updated_at": event.received_at,
                    },
                )
            else:
                connection.execute(
                    _UPDATE_LEDGER,
                    {
                        "ledger_id": subscription_id,
                        "new_tenant_id": tenant_id,
                        "new_state": dumped,
                        "new_updated_at": event.received_at,
                    },
                )
            if decision.action is not None and self._on_decision is not None:
                self._on_decision(session, event, decision)
        return True

    @staticmethod
    def _owner(connection: Connection, tenant_id: str, subscription_id: str | None) -> str | None:
        """The other subscription holding `tenant_id`: bound to it, or naming it first."""
        bound = connection.execute(_FIND_OWNER, {"tenant_id": tenant_id}).scalar()
        if bound is not None:
            return None if bound == subscription_id else str(bound)
        named = connection.execute(_FIND_CLAIM, {"tenant_id": tenant_id, "id": subscription_id})
        other = named.scalar()
        return None if other is None else str(other)

    @staticmethod
    def _claimed_upgrade(session: Session, intent: EventIntent, event: BillingEvent) -> bool:
        """Whether the event names an open plan claim for its tenant and plan: then only a
        bound subscription holds the tenant, not one that merely named it first."""
        snapshot = None if isinstance(intent, Ignored) else intent.snapshot
        if snapshot is None or snapshot.upgrade_claim is None:
            return False
        if session.connection().execute(_FIND_OWNER, {"tenant_id": snapshot.tenant_id}).first():
            return False
        claim = matching_claim(
            session, snapshot.upgrade_claim, snapshot.tenant_id, snapshot.plan, event.received_at
        )
        return claim is not None

    @staticmethod
    def _refuse(
        connection: Connection,
        subscription_id: str | None,
        state: SubscriptionState | None,
        reason: str,
        event: BillingEvent,
    ) -> None:
        """Show the refusal on the subscription (its ledger keeps no claim on the tenant)."""
        status = {"reconcile_status": "refused", "last_error": reason}
        if state is None:
            empty = SubscriptionState(subscription_id=str(subscription_id))
            connection.execute(
                _INSERT_LEDGER,
                {
                    "id": subscription_id,
                    "tenant_id": None,
                    "state": empty.model_dump(mode="json"),
                    "updated_at": event.received_at,
                    **status,
                },
            )
        else:
            connection.execute(
                update(_LEDGERS).where(_LEDGERS.c.id == subscription_id).values(**status)
            )

    def events_for(self, tenant_id: str) -> list[BillingEventRecord]:
        """A tenant's recorded events, oldest first by creation time."""
        with self._database.transaction() as session:
            return list(
                session.scalars(
                    select(BillingEventRecord)
                    .where(BillingEventRecord.tenant_id == tenant_id)
                    .order_by(BillingEventRecord.created_at, BillingEventRecord.id)
                )
            )

    def ledger(self, subscription_id: str) -> SubscriptionState | None:
        with self._database.transaction() as session:
            row = session.get(SubscriptionLedger, subscription_id)
            return None if row is None else SubscriptionState.model_validate(row.state)

    def ping(self) -> None:
        with self._database.transaction() as session:
            session.execute(text("SELECT 1"))
