"""The billing webhook: `POST /hooks/billing`, plus `/healthz` and `/readyz`.

The signature is verified over the raw body before anything is parsed; a delivery is
answered only once the store has committed it together with the subscription's new ledger
state (the desired change). Turning that into tenant requests is the reconciler's job, and
the stack operations are the worker's.

Request limits come from `BillingSettings`: the body is read as a stream and refused at
the size cap whether it declares its length or is chunked, and its JSON nesting is bounded
before it is parsed. Connection limits and read timeouts are the server's
(`control_plane.billing.server`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from control_plane.billing.events import IntentMapper, MalformedEvent, parse_event
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import SIGNATURE_HEADER, SignatureError, SignatureVerifier
from control_plane.billing.store import BillingStore

logger = logging.getLogger(__name__)

READINESS_CACHE_SECONDS = 1.0
"""A store probe answers every `/readyz` for this long: a flood of probes makes one query
a second, not one per request (the reconciler shares the database)."""


class Receipt(BaseModel):
    """The answer to an accepted delivery."""

    id: str
    type: str
    status: Literal["recorded", "duplicate"]


class Problem(BaseModel):
    """The answer to a refused delivery; nothing was stored."""

    error: Literal["signature", "payload", "unavailable"]
    detail: str


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read as it arrives and abandoned past `limit` bytes, so a chunked body
    (which declares no length) is held to the cap too."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _BodyTooLarge
        body += chunk
    return bytes(body)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None
    """What is not ready, without internals (hosts, ports, driver messages): those go to
    the server's log, not to unauthenticated callers."""


class _StoreProbe:
    """The store's readiness, asked at most once per `READINESS_CACHE_SECONDS`."""

    def __init__(self, store: BillingStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._checked_at = -READINESS_CACHE_SECONDS
        self._ready = False

    async def ready(self) -> bool:
        async with self._lock:
            if time.monotonic() - self._checked_at >= READINESS_CACHE_SECONDS:
                try:
                    await run_in_threadpool(self._store.ping)
                    self._ready = True
                except Exception as error:  # noqa: BLE001 - any store failure means not ready
                    if self._ready or self._checked_at < 0:
                        logger.warning(
                            "billing store unavailable: %s: %s", type(error).__name__, error
                        )
                    self._ready = False
                self._checked_at = time.monotonic()
            return self._ready


def create_app(
    settings: BillingSettings,
    store: BillingStore,
    *,
    clock: Callable[[], float] = time.time,
    reconciler: ReconcilerLoop | None = None,
) -> FastAPI:
    """The webhook app over `store`; `clock` (unix seconds) drives tolerance and ledgers.
    With `reconciler`, `/readyz` also requires its thread to be running."""
    verifier = SignatureVerifier(
        settings.webhook_secrets,
        tolerance_seconds=settings.signature_tolerance_seconds,
        clock=clock,
    )
    mapper = IntentMapper(settings)
    app = FastAPI(
        title="Tenant billing webhook",
        summary="Signed subscription events from the billing system drive tenant provisioning.",
        version="1",
    )

    probe = _StoreProbe(store)

    def refuse(
        error: Literal["signature", "payload"], detail: str, status_code: int = 400
    ) -> JSONResponse:
        logger.warning("billing delivery refused (%s): %s", error, detail)
        return JSONResponse(
            Problem(error=error, detail=detail).model_dump(),
            status_code=status_code,
            # A refused body may still be arriving: close rather than read the rest.
            headers={"Connection": "close"} if status_code == 413 else None,
        )

    @app.post(
        "/hooks/billing",
        response_model=Receipt,
        responses={
            400: {"model": Problem, "description": "Bad signature or payload"},
            413: {"model": Problem, "description": "The body exceeds the size limit"},
            503: {"model": Problem, "description": "Not stored now; deliver it again later"},
        },
        summary="Receive one signed billing event",
        openapi_extra={
            "parameters": [
                {
                    "name": SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>[,v1=...]",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        },
    )
    async def receive(request: Request) -> Response:
        # The raw request, no dependencies or body models: the signature covers the exact
        # bytes, and this is the hot path of the hook.
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _BodyTooLarge:
            return refuse("payload", f"the body exceeds {settings.max_body_bytes} bytes", 413)
        except ClientDisconnect:
            # The sender gave up (or was cut by the body timeout); nobody hears an answer.
            logger.info("billing delivery abandoned: the client disconnected mid-body")
            return Response(status_code=400)
        try:
            verifier.verify(body, request.headers.get(SIGNATURE_HEADER))
        except SignatureError as error:
            return refuse("signature", str(error))
        try:
            event = parse_event(
                body,
                received_at=datetime.fromtimestamp(clock(), UTC),
                max_depth=settings.max_json_depth,
            )
            intent = mapper.intent_for(event)
        except MalformedEvent as error:
            return refuse("payload", str(error))
        try:
            recorded = await run_in_threadpool(store.record, event, intent)
        except Exception as error:  # noqa: BLE001 - the sender retries; details stay in the log
            logger.error(
                "billing event %s not stored: %s: %s", event.id, type(error).__name__, error
            )
            return JSONResponse(
                Problem(
                    error="unavailable", detail="the event was not stored; deliver it again later"
                ).model_dump(),
                status_code=503,
                headers={"Retry-After": "30"},
            )
        receipt = Receipt(
            id=event.id, type=event.type, status="recorded" if recorded else "duplicate"
        )
        return Response(receipt.model_dump_json(), media_type="application/json")

    @app.get("/healthz", response_model=Health, summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": Health}},
        summary="The store takes events and the reconciler runs",
    )
    async def readyz() -> Health | JSONResponse:
        problem = None
        if not await probe.ready():
            problem = "the billing store is unavailable"
        elif reconciler is not None and not reconciler.running:
            problem = "the reconciler is not running"
        if problem is not None:
            return JSONResponse(
                Health(status="unavailable", detail=problem).model_dump(), status_code=503
            )
        return Health(status="ok")

    return app
