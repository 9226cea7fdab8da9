"""The webhook's HTTP server: uvicorn with the connection limits and read timeouts of
`BillingSettings`.

uvicorn bounds idle keep-alive time but not how long a client may take to send a request,
and its concurrency limit answers 503 to everyone once a single client holds every
connection. Its h11 protocol is extended here, per connection:

- connections beyond `max_connections`, or beyond `max_connections_per_client` from one
  address, are closed on arrival, so one client cannot take the server;
- a request head must be complete within `header_timeout_seconds` of the connection (or of
  the previous response), and its body within `body_timeout_seconds` of the head; a
  connection that is late is closed (slow or half-sent requests are cut).

Bodies are held to `max_body_bytes` by the app as they stream in, and uvicorn stops
reading a connection whose unread body passes 64 KiB, so a refused body is never buffered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from control_plane.billing.settings import BillingSettings

logger = logging.getLogger(__name__)


class _ClientTable:
    """Open connections per client address, shared by one server's connections (they all
    run on the server's event loop, so no lock is needed)."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with connection caps and request read deadlines."""

    limits: ClassVar[BillingSettings]
    clients: ClassVar[_ClientTable]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._address = ""
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if (
            len(self.connections) >= self.limits.max_connections
            or self.clients.open[address] >= self.limits.max_connections_per_client
        ):
            transport.abort()
            return
        self._admitted, self._address = True, address
        self.clients.open[address] += 1
        super().connection_made(transport)
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._disarm()
        self.clients.open[self._address] -= 1
        if self.clients.open[self._address] <= 0:
            del self.clients.open[self._address]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Arm the deadline of what the client owes now: a request head, or its body."""
        state = self.conn.their_state
        if state is h11.IDLE:
            phase, seconds = "head", self.limits.header_timeout_seconds
        elif state is h11.SEND_BODY:
            phase, seconds = "body", self.limits.body_timeout_seconds
        else:
            phase, seconds = None, 0.0  # the request is in: the app's turn
        if phase == self._phase:
            return  # the deadline counts from the start of the phase, not from each byte
        self._disarm()
        self._phase = phase
        if phase is not None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(seconds, self._late, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self, phase: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            logger.info("closing a connection from %s: request %s too slow", self._address, phase)
            self.transport.close()


def webhook_server(app: Any, settings: BillingSettings, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` on `host:port` with the webhook's limits."""
    protocol = type(
        "WebhookH11Protocol",
        (LimitedH11Protocol,),
        {"limits": settings, "clients": _ClientTable()},
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        log_level="warning",
        # No `limit_concurrency`: it refuses (503) every client once one holds the
        # connections; the per-client cap above is what keeps a flood to its sender.
    )
    return uvicorn.Server(config)
