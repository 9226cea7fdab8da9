"""Helpers shared by the billing tests: the secrets, a fixed clock, a signing sender."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi.testclient import TestClient

from control_plane.billing.samples import encode
from control_plane.billing.server import webhook_server
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header

SECRET = "whsec_current_5f1c2d3e4a"
OLD_SECRET = "whsec_previous_9a8b7c6d5e"
NOW = 1_795_000_000
"""2026-11-18T11:06:40Z: the fixed "now" of every test."""


@dataclass
class Clock:
    """A settable clock (unix seconds)."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta.total_seconds()


@dataclass
class Sender:
    """Signs and posts events to the webhook."""

    client: TestClient
    clock: Clock
    secrets: tuple[str, ...] = (SECRET,)
    sent: list[str] = field(default_factory=list)

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = int(self.clock.now) if timestamp is None else timestamp
        return {"Stripe-Signature": signature_header(body, self.secrets, stamp)}

    def post(self, event: dict[str, Any]) -> Any:
        body = encode(event)
        response = self.client.post("/hooks/billing", content=body, headers=self.headers(body))
        self.sent.append(event["id"])
        return response


@contextmanager
def serving(app: Any, settings: BillingSettings) -> Iterator[tuple[str, uvicorn.Server]]:
    """The webhook server with `settings`' limits on a free 127.0.0.1 port, in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = webhook_server(app, settings, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name="webhook-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signed(body: bytes, now: float) -> dict[str, str]:
    return {"Stripe-Signature": signature_header(body, (SECRET,), int(now))}


class TcpProxy:
    """A loopback TCP proxy to a server that can be cut and restored: stopping it closes
    the listener and every open connection, as a database going down does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._open:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
