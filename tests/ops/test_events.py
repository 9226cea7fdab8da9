"""Lifecycle events out: recorded with the state change, delivered to EventBridge and to
signed webhooks, retried with backoff, logged."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from sqlalchemy import select

from control_plane.billing.signature import SignatureVerifier
from control_plane.ops.events import (
    SIGNATURE_HEADER,
    EventBook,
    EventDispatcher,
    EventError,
    EventMessage,
    check_endpoint_url,
    endpoint_secret,
    signing_key,
)
from control_plane.ops.settings import EventSettings
from control_plane.registry.database import Database
from control_plane.registry.event_models import LifecycleEvent
from control_plane.registry.lifecycle_events import event_type
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.control_plane.control_plane_helpers import FailingRunner, spec_data

KEY = b"k" * 32
Drain = Callable[..., None]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _types(database: Database, tenant_id: str) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(LifecycleEvent.type)
                .where(LifecycleEvent.tenant_id == tenant_id)
                .order_by(LifecycleEvent.id)
            )
        )


@pytest.mark.parametrize(
    ("previous", "state", "last_settled", "expected"),
    [
        (None, "pending", None, "created"),
        ("provisioning", "active", "created", "provisioned"),
        ("updating", "active", "provisioned", "updated"),
        ("updating", "active", "suspended", "resumed"),
        ("updating", "suspended", "updated", "suspended"),
        ("updating", "failed", "updated", "failed"),
        ("deprovisioning", "retired", "updated", "retired"),
        ("active", "updating", "provisioned", None),
        ("pending", "provisioning", "created", None),
        ("active", "deprovisioning", "provisioned", None),
    ],
)
def test_event_types_follow_the_lifecycle(
    previous: str | None, state: str, last_settled: str | None, expected: str | None
) -> None:
    assert event_type(previous, state, last_settled=last_settled) == expected


def test_a_tenant_s_whole_life_is_recorded_once_per_change(
    service: TenantService, database: Database, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    service.update("acme", {"compute": {"max_size": 3}}, actor="ops")
    drain()
    service.suspend("acme", actor="ops")
    drain()
    service.resume("acme", actor="ops")
    drain()
    service.delete("acme", actor="ops")
    drain()

    assert _types(database, "acme") == [
        "created",
        "provisioned",
        "updated",
        "suspended",
        "resumed",
        "retired",
    ]


def test_a_failure_is_an_event_with_the_engine_s_message(
    service: TenantService, database: Database, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain(FailingRunner("quota exceeded: VPCs per region", retryable=False))

    with database.transaction() as session:
        failed = session.scalars(
            select(LifecycleEvent).where(LifecycleEvent.type == "failed")
        ).one()
    assert set(failed.detail) == {"error"}
    assert "quota exceeded" in failed.detail["error"]


def test_a_refused_request_records_no_event(service: TenantService, database: Database) -> None:
    service.create(spec_data("acme"), actor="ops")
    with pytest.raises(Exception, match="cannot resume"):
        service.resume("acme", actor="ops")
    assert _types(database, "acme") == ["created"]


# -- webhooks ----------------------------------------------------------------------------


class Receiver:
    """An httpx transport standing in for an endpoint: answers from a script of codes."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        code = self.codes.pop(0) if self.codes else 200
        return httpx.Response(code)


def _dispatcher(
    database: Database, receiver: Receiver, clock: Clock, **settings: Any
) -> EventDispatcher:
    return EventDispatcher(
        database,
        EventSettings(backoff_seconds=10, backoff_max_seconds=60, **settings),
        KEY,
        http=httpx.Client(transport=httpx.MockTransport(receiver)),
        clock=clock,
    )


def test_webhooks_are_signed_with_the_endpoint_s_secret(
    service: TenantService, database: Database, drain: Drain
) -> None:
    book = EventBook(database, KEY)
    endpoint = book.add_endpoint("https://hooks.example.com/tenants", tenant_id=None)
    service.create(spec_data("acme"), actor="ops")
    drain()
    receiver, clock = Receiver([]), Clock()

    report = _dispatcher(database, receiver, clock).drain()

    assert report.delivered == 2
    assert [r.url.path for r in receiver.requests] == ["/tenants", "/tenants"]
    request = receiver.requests[0]
    verifier = SignatureVerifier([endpoint.secret], clock=lambda: clock().timestamp())
    verifier.verify(request.content, request.headers[SIGNATURE_HEADER])
    message = EventMessage.model_validate_json(request.content)
    assert (message.type, message.tenant_id, message.state) == ("tenant.created", "acme", "pending")
    assert request.headers["Tenants-Event-Id"] == message.id
    with pytest.raises(Exception, match="signature"):
        SignatureVerifier(["whsec_other"], clock=lambda: clock().timestamp()).verify(
            request.content, request.headers[SIGNATURE_HEADER]
        )


def test_a_tenant_endpoint_gets_only_that_tenant_s_events(
    service: TenantService, database: Database
) -> None:
    service.create(spec_data("acme"), actor="ops")
    service.create(spec_data("globex"), actor="ops")
    EventBook(database, KEY).add_endpoint("https://acme.example.com/hook", tenant_id="acme")
    receiver = Receiver([])

    _dispatcher(database, receiver, Clock()).drain()

    bodies = [json.loads(r.content) for r in receiver.requests]
    assert [b["tenant_id"] for b in bodies] == ["acme"]


def test_failed_deliveries_retry_with_backoff_then_fail_for_good(
    service: TenantService, database: Database
) -> None:
    book = EventBook(database, KEY)
    book.add_endpoint("https://hooks.example.com/x")
    service.create(spec_data("acme"), actor="ops")
    receiver, clock = Receiver([500, 503, 500]), Clock()
    dispatcher = _dispatcher(database, receiver, clock, max_attempts=3)

    first = dispatcher.run_once()
    assert (first.retrying, first.delivered) == (1, 0)
    assert dispatcher.run_once().retrying == 0, "nothing is due before the backoff"
    clock.now += timedelta(seconds=10)
    assert dispatcher.run_once().retrying == 1
    clock.now += timedelta(seconds=19)
    assert dispatcher.run_once().retrying == 0, "the second delay doubles"
    clock.now += timedelta(seconds=1)
    last = dispatcher.run_once()

    assert last.failed == 1
    assert len(receiver.requests) == 3
    [view] = book.events("acme")
    [status] = view.deliveries.values()
    assert status == "failed (3 attempts: HTTP 500)"


def test_a_delivery_that_recovers_is_delivered_once(
    service: TenantService, database: Database
) -> None:
    book = EventBook(database, KEY)
    book.add_endpoint("https://hooks.example.com/x")
    service.create(spec_data("acme"), actor="ops")
    receiver, clock = Receiver([502]), Clock()
    dispatcher = _dispatcher(database, receiver, clock)

    dispatcher.run_once()
    clock.now += timedelta(minutes=5)
    dispatcher.run_once()
    clock.now += timedelta(minutes=5)
    dispatcher.run_once()

    assert len(receiver.requests) == 2
    assert book.endpoints()[0].delivered == 1
    assert book.events("acme")[0].deliveries == {"endpoint:1": "delivered"}


def test_a_removed_endpoint_gets_nothing_more(service: TenantService, database: Database) -> None:
    book = EventBook(database, KEY)
    endpoint = book.add_endpoint("https://hooks.example.com/x")
    service.create(spec_data("acme"), actor="ops")
    receiver, clock = Receiver([500]), Clock()
    dispatcher = _dispatcher(database, receiver, clock)
    dispatcher.run_once()

    book.remove_endpoint(endpoint.id)
    service.create(spec_data("globex"), actor="ops")
    clock.now += timedelta(hours=1)
    dispatcher.drain()

    assert len(receiver.requests) == 1
    assert book.endpoints() == []
    with pytest.raises(EventError, match="no event endpoint"):
        book.remove_endpoint(endpoint.id)


def test_an_unreachable_endpoint_is_an_error_in_the_log_not_a_crash(
    service: TenantService, database: Database
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    book = EventBook(database, KEY)
    book.add_endpoint("https://hooks.example.com/x")
    service.create(spec_data("acme"), actor="ops")
    dispatcher = EventDispatcher(
        database,
        EventSettings(),
        KEY,
        http=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=Clock(),
    )

    report = dispatcher.run_once()

    assert report.retrying == 1
    assert "ConnectError: connection refused" in report.errors[0]


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/events", received
    finally:
        server.shutdown()
        server.server_close()


def test_delivery_over_the_wire(
    service: TenantService,
    database: Database,
    http_receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = http_receiver
    endpoint = EventBook(database, KEY).add_endpoint(url)
    service.create(spec_data("acme"), actor="ops")

    report = EventDispatcher(database, EventSettings(), KEY).drain()

    assert report.delivered == 1
    [(headers, body)] = received
    SignatureVerifier([endpoint.secret]).verify(body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["schema_version"] == "1"


# -- EventBridge -------------------------------------------------------------------------


def test_every_event_reaches_the_eventbridge_bus(
    service: TenantService, database: Database, drain: Drain
) -> None:
    with mock_aws():
        events = boto3.client("events", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        events.create_event_bus(Name="tenants")
        queue_url = sqs.create_queue(QueueName="lifecycle")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="all",
            EventBusName="tenants",
            EventPattern=json.dumps({"source": ["tenants.control-plane"]}),
        )
        events.put_targets(
            Rule="all", EventBusName="tenants", Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        service.create(spec_data("acme"), actor="ops")
        drain()

        report = EventDispatcher(
            database, EventSettings(bus="tenants", region="eu-west-1"), KEY
        ).drain()

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert report.delivered == 2
    envelopes = [json.loads(m["Body"]) for m in messages]
    assert sorted(e["detail-type"] for e in envelopes) == ["tenant.created", "tenant.provisioned"]
    assert {e["detail"]["tenant_id"] for e in envelopes} == {"acme"}


def test_a_missing_bus_is_logged_and_retried(service: TenantService, database: Database) -> None:
    with mock_aws():
        service.create(spec_data("acme"), actor="ops")
        report = EventDispatcher(
            database, EventSettings(bus="no-such-bus", region="eu-west-1"), KEY
        ).run_once()
    assert report.retrying == 1
    assert "no-such-bus" in report.errors[0] or "ResourceNotFound" in report.errors[0]


# -- endpoints and secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.com/x", "must be https"),
        ("http://hooks.example.com/x", "must use https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///nohost", "must be https"),
        ("https://example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_bad_endpoint_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(EventError, match=problem):
        check_endpoint_url(url)


def test_loopback_endpoints_may_use_plain_http() -> None:
    assert check_endpoint_url("http://127.0.0.1:8080/x")
    assert check_endpoint_url("http://localhost/x")


def test_an_endpoint_for_an_unknown_tenant_is_refused(database: Database) -> None:
    with pytest.raises(EventError, match="unknown tenant 'nobody'"):
        EventBook(database, KEY).add_endpoint("https://x.example.com/", tenant_id="nobody")


def test_secrets_are_derived_not_stored(database: Database, settings: Settings) -> None:
    endpoint = EventBook(database, KEY).add_endpoint("https://x.example.com/")
    assert endpoint.secret == endpoint_secret(KEY, endpoint.id)
    assert endpoint_secret(KEY, 1) != endpoint_secret(KEY, 2)
    assert endpoint_secret(b"other", 1) != endpoint_secret(KEY, 1)
    with database.engine.connect() as connection:
        dump = "\n".join(connection.connection.iterdump()) if database.dialect == "sqlite" else ""
    assert endpoint.secret not in dump


def test_the_generated_signing_key_is_private_and_stable(settings: Settings) -> None:
    old = os.umask(0)
    try:
        first = signing_key(EventSettings(), settings.data_dir)
    finally:
        os.umask(old)
    second = signing_key(EventSettings(), settings.data_dir)
    assert first == second and len(first) == 64
    assert (settings.data_dir / "events-signing.key").stat().st_mode & 0o777 == 0o600
    assert signing_key(EventSettings(signing_key="configured"), settings.data_dir) == b"configured"
