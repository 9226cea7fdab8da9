"""Wiring the portal into the one app: its routers, its static files, and error pages in
place of problem documents for paths outside the API."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from control_plane.web.portal import (
    account_pages,
    addons_pages,
    home,
    onboarding,
    operator,
    people_pages,
    settings_pages,
    support,
    tenant_pages,
)
from control_plane.web.portal.auth import LoginRequired, login_url, maybe_signed_in
from control_plane.web.portal.render import page, redirect

STATIC = Path(__file__).parent / "static"
MACHINE_PATHS = ("/api/", "/hooks/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi")
"""Paths whose errors stay problem documents: everything else is a page."""

Handler = Callable[[Request, Any], Response | Awaitable[Response]]

ROUTERS: tuple[APIRouter, ...] = (
    account_pages.router,
    home.router,
    onboarding.router,
    tenant_pages.router,
    settings_pages.router,
    addons_pages.router,
    people_pages.router,
    support.router,
    operator.router,
)
"""Every router of pages, in the order they are matched."""


def install(app: FastAPI) -> None:
    """Serve the portal's pages and `/static`; call after `problems.install`."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for kind, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(kind, _error_page(handler))
    app.add_exception_handler(LoginRequired, _to_login)


async def _to_login(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    path = error.next_path if request.method == "GET" else None
    return redirect(login_url(path), notice="Sign in to continue.")


def _error_page(problem_handler: Handler) -> Handler:
    """Pages answer an error with a page saying it; the API keeps its problem documents."""

    async def handler(request: Request, error: Exception) -> Response:
        problem = await _answer(problem_handler, request, error)
        if request.url.path.startswith(MACHINE_PATHS):
            return problem
        # The status and the message are the problem document's: the API's words.
        status = problem.status_code
        detail = str(json.loads(bytes(problem.body)).get("detail", ""))
        if status == 401:
            return redirect(login_url(request.url.path), notice="Sign in to continue.")
        return page(
            request,
            "error.html",
            # After an unexpected error the session lookup may fail too: show no one.
            principal=maybe_signed_in(request, request.app.state.web) if status < 500 else None,
            status_code=status,
            status=status,
            heading=HTTPStatus(status).phrase,
            detail=detail,
        )

    return handler


async def _answer(handler: Handler, request: Request, error: Exception) -> Response:
    answer = handler(request, error)
    return await answer if inspect.isawaitable(answer) else answer
