"""Probes: `/healthz` (the process answers) and `/readyz` (the registry answers and, when
the process runs one, the billing reconciler is alive)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from control_plane.web.deps import ContextDep
from control_plane.web.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The registry database answers",
    responses={503: {"model": Health, "description": "Not ready"}},
)
def readyz(context: ContextDep, request: Request) -> Health | JSONResponse:
    reconciler = request.app.state.reconciler
    if reconciler is not None and not reconciler.running:
        detail = "the billing reconciler is not running"
        return JSONResponse(Health(status="unavailable", detail=detail).model_dump(), 503)
    try:
        with context.database.transaction() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        detail = f"registry unavailable: {type(error).__name__}"
        return JSONResponse(Health(status="unavailable", detail=detail).model_dump(), 503)
    return Health(status="ok")
