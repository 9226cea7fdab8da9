"""Request limits, all set here: body size, time to answer and requests in flight.

A pure ASGI middleware, so the limits hold for every route (the billing hook included)
before any body is parsed: the body is read up to the limit and replayed to the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_plane.billing.settings import DEFAULT_MAX_BODY_BYTES
from control_plane.web.problems import problem


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """The largest request body (the billing hook's limit; API bodies are far smaller)."""
    timeout_seconds: float = 30.0
    """A request not answered by then gets 504."""
    max_concurrency: int = 64
    """Requests handled at once; more get 503 with `Retry-After` at once, not a queue."""


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.max_concurrency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        too_large = f"the request body exceeds {limits.max_body_bytes} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limits.max_body_bytes:
            await problem(413, too_large)(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limits.max_body_bytes:
                await problem(413, too_large)(scope, receive, send)
                return
        if self._slots.locked():
            await problem(503, "the server is busy; retry shortly", headers={"Retry-After": "1"})(
                scope, receive, send
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async with self._slots:
            try:
                await asyncio.wait_for(
                    self.app(scope, replay, tracking_send), timeout=limits.timeout_seconds
                )
            except TimeoutError:
                if not started:
                    detail = f"no answer within {limits.timeout_seconds:g} s"
                    await problem(504, detail)(scope, receive, send)
