"""Attributes the server's log lines to the tenant a request is about (its path's id)."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from control_plane.logs import log_context

_TENANT_PATH = re.compile(r"^/api/v1/tenants/(?P<tenant>[a-z][a-z0-9-]{1,31})(?:/|$)")


class RequestLogContext:
    """Pure ASGI middleware: every line logged while a tenant's request is served (the
    access line included) carries its tenant id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _TENANT_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        with log_context(tenant=match.group("tenant") if match else None):
            await self.app(scope, receive, send)
