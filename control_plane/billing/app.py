"""The billing webhook: `POST /hooks/billing`, plus `/healthz` and `/readyz`.

The signature is verified over the raw body before anything is parsed; a delivery is
answered only once the store has committed it together with the subscription's new ledger
state (the desired change). Turning that into tenant requests is the reconciler's job, and
the stack operations are the worker's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from control_plane.billing.events import IntentMapper, MalformedEvent, parse_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import SIGNATURE_HEADER, SignatureError, SignatureVerifier
from control_plane.billing.store import BillingStore

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""Larger than any subscription or invoice event; bigger bodies are refused unread."""


class Receipt(BaseModel):
    """The answer to an accepted delivery."""

    id: str
    type: str
    status: Literal["recorded", "duplicate"]


class Problem(BaseModel):
    """The answer to a refused delivery; nothing was stored."""

    error: Literal["signature", "payload"]
    detail: str


def _store(request: Request) -> BillingStore:
    store: BillingStore = request.app.state.billing_store
    return store


StoreDep = Annotated[BillingStore, Depends(_store)]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


def create_app(
    settings: BillingSettings,
    store: BillingStore,
    *,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The webhook app over `store`; `clock` (unix seconds) drives tolerance and ledgers."""
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

    app.state.billing_store = store

    def refuse(error: Literal["signature", "payload"], detail: str) -> JSONResponse:
        logger.warning("billing delivery refused (%s): %s", error, detail)
        return JSONResponse(Problem(error=error, detail=detail).model_dump(), status_code=400)

    @app.post(
        "/hooks/billing",
        response_model=Receipt,
        responses={400: {"model": Problem, "description": "Bad signature or payload"}},
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
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return refuse("payload", f"the body exceeds {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return refuse("payload", f"the body exceeds {MAX_BODY_BYTES} bytes")
        try:
            verifier.verify(body, request.headers.get(SIGNATURE_HEADER))
        except SignatureError as error:
            return refuse("signature", str(error))
        try:
            event = parse_event(body, received_at=datetime.fromtimestamp(clock(), UTC))
            intent = mapper.intent_for(event)
        except MalformedEvent as error:
            return refuse("payload", str(error))
        recorded = await run_in_threadpool(store.record, event, intent)
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
        summary="The store takes events",
    )
    async def readyz(billing_store: StoreDep) -> Health | JSONResponse:
        try:
            await run_in_threadpool(billing_store.ping)
        except Exception as error:  # noqa: BLE001 - any store failure means not ready
            detail = f"store unavailable: {type(error).__name__}: {error}"
            return JSONResponse(
                Health(status="unavailable", detail=detail).model_dump(), status_code=503
            )
        return Health(status="ok")

    return app
