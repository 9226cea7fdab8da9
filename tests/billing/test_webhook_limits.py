"""Request limits of the webhook server, tried as a hostile client would on 127.0.0.1: a
chunked body far over the cap (server memory measured), deeply nested JSON, a flood of
idle and half-sent connections, a client that gives up mid-body, a store that fails."""

from __future__ import annotations

import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.events import BillingEvent, EventIntent, MalformedEvent, parse_event
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.reconcile import BillingReconciler, ReconcileStep
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import InMemoryBillingStore
from control_plane.registry.database import Database, open_database
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.billing.billing_helpers import NOW, SECRET, Sender, serving, signed

MiB = 1024 * 1024


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_log() -> Iterator[_Records]:
    """Everything uvicorn's error logger says (it does not propagate to the root logger).
    Entered once the server is built: uvicorn's logging setup replaces earlier handlers."""
    records = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _deep_event(levels: int) -> bytes:
    return (
        b'{"id": "evt_1Deep", "type": "customer.subscription.created", "created": %d, '
        b'"data": {"object": {"items": %s%s}}}' % (NOW, b"[" * levels, b"]" * levels)
    )


def test_a_deeply_nested_signed_body_is_a_400_not_a_500(sender: Sender) -> None:
    body = _deep_event(100_000)
    response = sender.client.post("/hooks/billing", content=body, headers=sender.headers(body))
    assert response.status_code == 400
    assert response.json() == {
        "error": "payload",
        "detail": "the body nests arrays and objects deeper than 32 levels",
    }


def test_nesting_counts_structure_not_brackets_inside_strings() -> None:
    document = subscription_event(
        "customer.subscription.created",
        event_id="evt_1Brackets",
        created=NOW,
        subscription_id="sub_1Brackets",
        tenant_id="acme",
        plan=PlanName.STARTER,
        display_name='[[[[{{{{ "quoted" \\ ' * 20,
    )
    received = datetime.fromtimestamp(NOW, UTC)
    assert parse_event(encode(document), received).id == "evt_1Brackets"
    # The envelope, `data` and `data.object` are three levels: 29 arrays make 32.
    assert parse_event(_deep_event(29), received).id == "evt_1Deep"
    with pytest.raises(MalformedEvent, match="deeper than 32 levels"):
        parse_event(_deep_event(30), received)
    with pytest.raises(MalformedEvent, match="deeper than 8 levels"):
        parse_event(_deep_event(6), received, max_depth=8)


def test_a_chunked_body_is_cut_at_the_cap_with_the_servers_memory_bounded(
    settings: BillingSettings,
) -> None:
    app = create_app(settings, InMemoryBillingStore())
    with serving(app, settings) as (url, _server):
        tracemalloc.start()
        sent, answer = 0, b""
        try:
            with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as client:
                client.sendall(
                    b"POST /hooks/billing HTTP/1.1\r\nHost: billing\r\n"
                    b"Transfer-Encoding: chunked\r\nStripe-Signature: t=1,v1=00\r\n\r\n"
                )
                chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
                with suppress(OSError):  # the server hangs up once it has answered
                    while sent < 200 * MiB:
                        client.sendall(chunk)
                        sent += 0x10000
                with suppress(OSError):
                    answer = client.recv(65536)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # 200 MB offered; the server stopped at the 256 KiB cap and hung up, so only what the
    # kernel buffers took was ever sent, and the process never held more than a few MiB.
    assert sent < 64 * MiB
    assert peak < 8 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    if answer:
        assert answer.startswith(b"HTTP/1.1 413 ")


class _CountingReconciler(BillingReconciler):
    """Passes that find nothing to do, counted."""

    def __init__(self, database: Database, service: TenantService) -> None:
        super().__init__(database, service)
        self.count = 0

    def reconcile(self) -> list[ReconcileStep]:
        self.count += 1
        return []


def test_a_flood_of_slow_clients_starves_neither_healthz_nor_the_reconciler(
    tmp_path: Path,
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'registry.db'}")
    limits = BillingSettings(
        webhook_secrets=(SECRET,),
        max_connections=64,
        max_connections_per_client=8,
        header_timeout_seconds=1.0,
        body_timeout_seconds=1.0,
    )
    service = TenantService(database, Settings(data_dir=tmp_path, stacks_dir=tmp_path / "s"))
    reconciler = _CountingReconciler(database, service)
    loop = ReconcilerLoop(reconciler, interval=0.05, max_backoff=0.1)
    loop.start()
    app = create_app(limits, InMemoryBillingStore(), reconciler=loop)
    flood: list[socket.socket] = []
    try:
        with serving(app, limits) as (url, server):
            port = _port(url)
            half_sent = (
                b"",  # connects and says nothing
                b"POST /hooks/billing HTTP/1.1\r\nHost: billing\r\n",  # a head never finished
                b"POST /hooks/billing HTTP/1.1\r\nHost: billing\r\nContent-Length: 5000\r\n\r\n{",
            )
            started = time.monotonic()
            for i in range(150):
                attacker = socket.socket()
                attacker.bind(("127.0.0.2", 0))  # one client address, not the prober's
                attacker.settimeout(5)
                attacker.connect(("127.0.0.1", port))
                with suppress(OSError):
                    attacker.sendall(half_sent[i % 3])
                flood.append(attacker)
            passes_before = reconciler.count
            probes = []
            for _ in range(5):
                began = time.monotonic()
                response = httpx.get(f"{url}/healthz", timeout=5)
                probes.append((response.status_code, time.monotonic() - began))
                assert len(server.server_state.connections) <= limits.max_connections_per_client + 1
                time.sleep(0.1)
            assert [status for status, _ in probes] == [200] * 5
            assert max(seconds for _, seconds in probes) < 1.0
            time.sleep(0.3)
            assert reconciler.count > passes_before, "the reconciler kept running"

            # Every flood connection is closed by the server: refused on arrival past the
            # per-client cap, or cut at the head or body deadline.
            for attacker in flood:
                with suppress(ConnectionResetError):
                    assert attacker.recv(1024) == b""
            assert time.monotonic() - started < 5
            assert len(server.server_state.connections) == 0
            assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        for attacker in flood:
            attacker.close()
        loop.stop()
        database.dispose()


def test_a_client_that_gives_up_mid_body_leaves_no_traceback(
    settings: BillingSettings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, InMemoryBillingStore())
    with serving(app, settings) as (url, _server), server_log() as log:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", _port(url))) as client:
                client.sendall(
                    b"POST /hooks/billing HTTP/1.1\r\nHost: billing\r\n"
                    b'Content-Length: 5000\r\nStripe-Signature: t=1,v1=00\r\n\r\n{"id": '
                )
                time.sleep(0.1)
        time.sleep(0.3)
        assert httpx.get(f"{url}/healthz").status_code == 200
    logged = log.records + caplog.records
    assert [r for r in logged if r.exc_info or "Exception" in r.getMessage()] == []


def test_a_store_that_cannot_take_the_event_gets_a_503_and_no_internals(
    settings: BillingSettings,
) -> None:
    class Down(InMemoryBillingStore):
        def record(self, event: BillingEvent, intent: EventIntent) -> bool:
            raise OperationalError(
                "INSERT", {}, Exception('connection to server at "10.1.2.3", port 5432 failed')
            )

    body = encode(
        subscription_event(
            "customer.subscription.created",
            event_id="evt_1Down",
            created=int(time.time()),
            subscription_id="sub_1Down",
            tenant_id="acme",
            plan=PlanName.STARTER,
        )
    )
    with serving(create_app(settings, Down()), settings) as (url, _server), server_log() as log:
        response = httpx.post(
            f"{url}/hooks/billing", content=body, headers=signed(body, time.time())
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json() == {
        "error": "unavailable",
        "detail": "the event was not stored; deliver it again later",
    }
    assert [r for r in log.records if r.exc_info] == []


def test_limits_are_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", f'["{SECRET}"]')
    monkeypatch.setenv("TENANTS_BILLING_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("TENANTS_BILLING_HEADER_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("TENANTS_BILLING_MAX_CONNECTIONS_PER_CLIENT", "4")
    monkeypatch.setenv("TENANTS_BILLING_RECONCILE_BACKOFF_MAX_SECONDS", "60")
    settings = BillingSettings()
    assert (
        settings.max_body_bytes,
        settings.header_timeout_seconds,
        settings.max_connections_per_client,
        settings.reconcile_backoff_max_seconds,
    ) == (65536, 2.5, 4, 60.0)
    with pytest.raises(ValueError, match=r"max_connections_per_client \(300\) exceeds"):
        BillingSettings(max_connections_per_client=300)
    with pytest.raises(ValueError, match="reconcile_backoff_max_seconds"):
        BillingSettings(reconcile_backoff_seconds=10, reconcile_backoff_max_seconds=5)


def test_a_second_client_is_served_while_one_holds_its_whole_share(
    settings: BillingSettings,
) -> None:
    limits = settings.model_copy(update={"max_connections_per_client": 2, "max_connections": 4})
    app = create_app(limits, InMemoryBillingStore())
    held: list[socket.socket] = []
    with serving(app, limits) as (url, _server):
        for _ in range(2):
            hog = socket.socket()
            hog.bind(("127.0.0.2", 0))
            hog.connect(("127.0.0.1", _port(url)))
            held.append(hog)
        refused = socket.socket()
        refused.bind(("127.0.0.2", 0))
        refused.settimeout(5)
        refused.connect(("127.0.0.1", _port(url)))
        with suppress(ConnectionResetError):
            assert refused.recv(1) == b""  # its third connection is closed on arrival
        refused.close()
        ready = threading.Event()
        answers: list[int] = []

        def probe() -> None:
            answers.append(httpx.get(f"{url}/healthz", timeout=5).status_code)
            ready.set()

        threading.Thread(target=probe, daemon=True).start()
        assert ready.wait(5)
        assert answers == [200]
    for hog in held:
        hog.close()
