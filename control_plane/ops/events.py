"""Lifecycle events out: the published document, subscribed endpoints and the dispatcher.

The registry records an event in the transaction that changes a tenant's state (see
`control_plane.registry.lifecycle_events`); this module delivers each one, at least once,
to the EventBridge bus and to every endpoint subscribed to it, retrying with backoff and
keeping a delivery log. Webhook bodies are signed like the billing system signs ours
(`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), so receivers can verify them with
any Stripe-compatible verifier and the endpoint's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control_plane.billing.signature import signature_header
from control_plane.ops.settings import EventSettings
from control_plane.registry.database import Database
from control_plane.registry.event_models import EventDelivery, EventEndpoint, LifecycleEvent
from control_plane.registry.models import Tenant, utcnow

SCHEMA_VERSION: Literal["1"] = "1"
SOURCE = "tenants.control-plane"
SIGNATURE_HEADER = "Tenants-Signature"
MAX_URL_LENGTH = 2048
MAX_ERROR_CHARS = 500
_LOCAL_HOSTS = {"localhost"}


class EventError(ValueError):
    """A request about events that cannot be carried out as asked (shown as one line)."""


class EventMessage(BaseModel):
    """Version 1 of the published event document (EventBridge `Detail` and webhook body).

    Fields are only ever added within a version; a removed or changed field makes a new
    `schema_version`.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    """`evt_<n>`, unique and increasing; receivers deduplicate on it (delivery is at least once)."""
    schema_version: Literal["1"] = SCHEMA_VERSION
    type: str
    """`tenant.created`, `.provisioned`, `.updated`, `.suspended`, `.resumed`, `.failed`,
    `.retired`."""
    occurred_at: datetime
    tenant_id: str
    state: str
    previous_state: str | None
    plan: str
    detail: dict[str, str]


def event_message(event: LifecycleEvent) -> EventMessage:
    return EventMessage(
        id=f"evt_{event.id}",
        type=f"tenant.{event.type}",
        occurred_at=event.occurred_at,
        tenant_id=event.tenant_id,
        state=event.state,
        previous_state=event.previous_state,
        plan=event.plan,
        detail={str(k): str(v) for k, v in event.detail.items()},
    )


# -- signing secrets ---------------------------------------------------------------------


def signing_key(settings: EventSettings, data_dir: Path) -> bytes:
    """The master key endpoint secrets derive from: configured, or kept in the data dir."""
    configured = settings.signing_key.get_secret_value()
    if configured:
        return configured.encode()
    path = data_dir / "events-signing.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two processes starting at once agree on the first key written.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with open(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def endpoint_secret(key: bytes, endpoint_id: int) -> str:
    """The endpoint's signing secret: derived, so the registry never stores it."""
    digest = hmac.new(key, f"event-endpoint:{endpoint_id}".encode(), hashlib.sha256)
    return "whsec_" + digest.hexdigest()


# -- endpoints ---------------------------------------------------------------------------


def check_endpoint_url(url: str) -> str:
    """An https URL (plain http only for this machine), with no credentials in it."""
    if len(url) > MAX_URL_LENGTH:
        raise EventError(f"endpoint URL is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in {"https", "http"} or not host:
        raise EventError(f"endpoint URL {url[:100]!r} must be https://host/path")
    if parts.username or parts.password:
        raise EventError("endpoint URL must not carry credentials; it is signed instead")
    if parts.scheme == "http" and not _is_loopback(host):
        raise EventError(
            f"endpoint URL {url[:100]!r} must use https (plain http only for localhost)"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NewEndpoint:
    id: int
    url: str
    tenant_id: str | None
    secret: str
    """Shown once: the registry keeps no copy."""


@dataclass(frozen=True)
class EndpointView:
    id: int
    url: str
    tenant_id: str | None
    description: str
    created_at: datetime
    delivered: int
    pending: int
    failed: int


@dataclass(frozen=True)
class EventView:
    id: str
    type: str
    tenant_id: str
    state: str
    previous_state: str | None
    occurred_at: datetime
    deliveries: dict[str, str]
    """Target -> status (`delivered`, `pending (2 attempts: HTTP 500)`, `failed ...`)."""


class EventBook:
    """Use cases over the event outbox: endpoints and what was delivered where."""

    def __init__(self, database: Database, key: bytes) -> None:
        self.database = database
        self.key = key

    def add_endpoint(
        self, url: str, *, tenant_id: str | None = None, description: str = ""
    ) -> NewEndpoint:
        check_endpoint_url(url)
        if len(description) > 200:
            raise EventError("description is longer than 200 characters")
        with self.database.transaction() as session:
            if tenant_id is not None:
                _require_tenant(session, tenant_id)
            endpoint = EventEndpoint(url=url, tenant_id=tenant_id, description=description)
            session.add(endpoint)
            session.flush()
            return NewEndpoint(
                id=endpoint.id,
                url=url,
                tenant_id=tenant_id,
                secret=endpoint_secret(self.key, endpoint.id),
            )

    def remove_endpoint(self, endpoint_id: int) -> None:
        """Disable the endpoint; its pending deliveries are dropped, its log kept."""
        with self.database.transaction() as session:
            endpoint = session.get(EventEndpoint, endpoint_id)
            if endpoint is None or endpoint.disabled_at is not None:
                raise EventError(
                    f"no event endpoint {endpoint_id}; see `tenantctl events endpoints`"
                )
            endpoint.disabled_at = utcnow()
            for delivery in session.scalars(
                select(EventDelivery).where(
                    EventDelivery.endpoint_id == endpoint_id, EventDelivery.status == "pending"
                )
            ):
                delivery.status = "failed"
                delivery.last_error = "endpoint removed"

    def endpoints(self) -> list[EndpointView]:
        with self.database.transaction() as session:
            rows = session.scalars(
                select(EventEndpoint)
                .where(EventEndpoint.disabled_at.is_(None))
                .order_by(EventEndpoint.id)
            ).all()
            views = []
            for endpoint in rows:
                statuses = session.scalars(
                    select(EventDelivery.status).where(EventDelivery.endpoint_id == endpoint.id)
                ).all()
                views.append(
                    EndpointView(
                        id=endpoint.id,
                        url=endpoint.url,
                        tenant_id=endpoint.tenant_id,
                        description=endpoint.description,
                        created_at=endpoint.created_at,
                        delivered=statuses.count("delivered"),
                        pending=statuses.count("pending"),
                        failed=statuses.count("failed"),
                    )
                )
            return views

    def events(self, tenant_id: str | None = None, *, limit: int = 50) -> list[EventView]:
        """The newest events first, each with where it was delivered."""
        with self.database.transaction() as session:
            query = select(LifecycleEvent).order_by(LifecycleEvent.id.desc()).limit(limit)
            if tenant_id is not None:
                _require_tenant(session, tenant_id)
                query = query.where(LifecycleEvent.tenant_id == tenant_id)
            views = []
            for event in session.scalars(query):
                deliveries = session.scalars(
                    select(EventDelivery)
                    .where(EventDelivery.event_id == event.id)
                    .order_by(EventDelivery.id)
                ).all()
                views.append(
                    EventView(
                        id=f"evt_{event.id}",
                        type=f"tenant.{event.type}",
                        tenant_id=event.tenant_id,
                        state=event.state,
                        previous_state=event.previous_state,
                        occurred_at=event.occurred_at,
                        deliveries={d.target: _delivery_status(d) for d in deliveries},
                    )
                )
            return views


def _delivery_status(delivery: EventDelivery) -> str:
    if delivery.status == "delivered" or not delivery.attempts:
        return delivery.status
    noun = "attempt" if delivery.attempts == 1 else "attempts"
    return f"{delivery.status} ({delivery.attempts} {noun}: {delivery.last_error})"


def _require_tenant(session: Session, tenant_id: str) -> None:
    if session.get(Tenant, tenant_id) is None:
        raise EventError(f"unknown tenant {tenant_id!r}; see `tenantctl tenants list`")


# -- dispatching -------------------------------------------------------------------------


@dataclass
class DispatchReport:
    fanned_out: int = 0
    """Events given their delivery rows in this pass."""
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    target: str
    attempts: int
    endpoint_url: str | None
    endpoint_id: int | None
    message: EventMessage


class EventDispatcher:
    """Fans events out to their targets and delivers what is due, with retries.

    Several dispatchers may run at once: a delivery is claimed (its next attempt pushed past
    the delivery timeout) in a short transaction before it is sent, so two never send the
    same attempt; a dispatcher that dies mid-send leaves it due again after the claim.
    """

    def __init__(
        self,
        database: Database,
        settings: EventSettings,
        key: bytes,
        *,
        http: httpx.Client | None = None,
        eventbridge: Any | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        self.key = key
        self.http = http or httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)
        self._eventbridge = eventbridge
        self.clock = clock

    @property
    def eventbridge(self) -> Any:
        if self._eventbridge is None:
            self._eventbridge = boto3.client(
                "events",
                region_name=self.settings.region,
                endpoint_url=self.settings.aws_endpoint_url or None,
            )
        return self._eventbridge

    def run_once(self, *, limit: int = 100) -> DispatchReport:
        report = DispatchReport(fanned_out=self.fan_out())
        for claimed in self._claim_due(limit):
            error = self._send(claimed)
            self._record(claimed, error, report)
        return report

    def drain(self, *, max_passes: int = 1000) -> DispatchReport:
        """Passes until nothing is due now (retries scheduled later stay pending)."""
        total = DispatchReport()
        for _ in range(max_passes):
            report = self.run_once()
            total.fanned_out += report.fanned_out
            total.delivered += report.delivered
            total.retrying += report.retrying
            total.failed += report.failed
            total.errors += report.errors
            if not (report.fanned_out or report.delivered or report.retrying or report.failed):
                break
        return total

    def fan_out(self) -> int:
        """Give every new event one delivery row per target subscribed to it."""
        with self.database.transaction() as session:
            events = session.scalars(
                select(LifecycleEvent)
                .where(LifecycleEvent.fanned_out.is_(False))
                .order_by(LifecycleEvent.id)
                .limit(500)
                .with_for_update(skip_locked=True)
            ).all()
            if not events:
                return 0
            endpoints = session.scalars(
                select(EventEndpoint).where(EventEndpoint.disabled_at.is_(None))
            ).all()
            now = self.clock()
            for event in events:
                targets: list[tuple[str, int | None]] = []
                if self.settings.bus:
                    targets.append((f"eventbridge:{self.settings.bus}", None))
                targets += [
                    (f"endpoint:{e.id}", e.id)
                    for e in endpoints
                    if e.tenant_id is None or e.tenant_id == event.tenant_id
                ]
                for target, endpoint_id in targets:
                    session.add(
                        EventDelivery(
                            event_id=event.id,
                            target=target,
                            endpoint_id=endpoint_id,
                            next_attempt_at=now,
                        )
                    )
                event.fanned_out = True
            return len(events)

    def _claim_due(self, limit: int) -> list[_Claimed]:
        now = self.clock()
        claim_until = now + timedelta(seconds=self.settings.timeout_seconds * 3)
        with self.database.transaction() as session:
            rows = session.execute(
                select(EventDelivery, LifecycleEvent, EventEndpoint)
                .join(LifecycleEvent, LifecycleEvent.id == EventDelivery.event_id)
                .outerjoin(EventEndpoint, EventEndpoint.id == EventDelivery.endpoint_id)
                .where(
                    EventDelivery.status == "pending",
                    EventDelivery.next_attempt_at <= now,
                    or_(EventDelivery.endpoint_id.is_(None), EventEndpoint.disabled_at.is_(None)),
                )
                .order_by(EventDelivery.event_id, EventDelivery.id)
                .limit(limit)
                .with_for_update(of=EventDelivery, skip_locked=True)
            ).all()
            claimed = []
            for delivery, event, endpoint in rows:
                delivery.next_attempt_at = claim_until
                claimed.append(
                    _Claimed(
                        delivery_id=delivery.id,
                        target=delivery.target,
                        attempts=delivery.attempts,
                        endpoint_url=endpoint.url if endpoint is not None else None,
                        endpoint_id=delivery.endpoint_id,
                        message=event_message(event),
                    )
                )
            return claimed

    def _send(self, claimed: _Claimed) -> str | None:
        """None when delivered, otherwise why not (kept in the delivery log)."""
        body = claimed.message.model_dump_json().encode()
        try:
            if claimed.endpoint_id is None:
                return self._put_event(claimed.message, body)
            return self._post(claimed, body)
        except Exception as error:  # noqa: BLE001  (any failure of one target is that target's)
            return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]

    def _put_event(self, message: EventMessage, body: bytes) -> str | None:
        answer = self.eventbridge.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": message.type,
                    "Detail": body.decode(),
                    "EventBusName": self.settings.bus,
                    "Time": message.occurred_at,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            return f"EventBridge: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
        return None

    def _post(self, claimed: _Claimed, body: bytes) -> str | None:
        assert claimed.endpoint_id is not None and claimed.endpoint_url is not None
        secret = endpoint_secret(self.key, claimed.endpoint_id)
        timestamp = int(self.clock().timestamp())
        response = self.http.post(
            claimed.endpoint_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature_header(body, [secret], timestamp),
                "Tenants-Event-Id": claimed.message.id,
            },
        )
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _record(self, claimed: _Claimed, error: str | None, report: DispatchReport) -> None:
        with self.database.transaction() as session:
            delivery = session.get_one(EventDelivery, claimed.delivery_id)
            delivery.attempts = claimed.attempts + 1
            if error is None:
                delivery.status = "delivered"
                delivery.delivered_at = self.clock()
                delivery.last_error = None
                report.delivered += 1
                return
            delivery.last_error = error
            report.errors.append(f"{claimed.message.id} -> {claimed.target}: {error}")
            if delivery.attempts >= self.settings.max_attempts:
                delivery.status = "failed"
                report.failed += 1
                return
            delay = min(
                self.settings.backoff_seconds * 2 ** (delivery.attempts - 1),
                self.settings.backoff_max_seconds,
            )
            delivery.next_attempt_at = self.clock() + timedelta(seconds=delay)
            report.retrying += 1
