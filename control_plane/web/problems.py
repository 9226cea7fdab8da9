"""Errors as RFC 9457 problem details (`application/problem+json`), mapped in one place.

Domain errors carry their own one-line messages; this module only decides the status.
Anything unexpected becomes a bare 500 whose detail reveals nothing (it is logged).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from control_plane.accounts.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
)
from control_plane.accounts.mail import MailError
from control_plane.billing.invoice_book import NothingToBillError
from control_plane.billing.self_service import BillingDecidesError, BillingUnavailableError
from control_plane.queue.jobs import JobNotFoundError, JobNotRetryableError
from control_plane.registry.cidr import NetworkPoolError
from control_plane.registry.lifecycle import TransitionError
from control_plane.registry.repository import TenantExistsError, TenantNotFoundError
from control_plane.service import (
    InvalidSpecError,
    SpecChangeError,
    SpecVersionConflictError,
    StackFileExistsError,
)
from control_plane.support.cases import CaseNotFoundError, CaseStateError, InvalidCaseError

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    """Request validation only: every offending field."""


class ProblemError(Exception):
    """Raised by routes for a problem that has no domain error of its own."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[FieldProblem] | None = None,
) -> JSONResponse:
    document = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(
        document.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


_STATUS: list[tuple[type[Exception], int]] = [
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (TenantNotFoundError, 404),
    (NothingToBillError, 404),
    (JobNotFoundError, 404),
    (CaseNotFoundError, 404),
    (ConflictError, 409),
    (TenantExistsError, 409),
    (TransitionError, 409),
    (StackFileExistsError, 409),
    (JobNotRetryableError, 409),
    (CaseStateError, 409),
    (SpecVersionConflictError, 412),
    (InvalidRequestError, 422),
    (InvalidSpecError, 422),
    (SpecChangeError, 422),
    (InvalidCaseError, 422),
    (NetworkPoolError, 503),
    (BillingDecidesError, 409),
    (BillingUnavailableError, 503),
    (UnavailableError, 503),
    (MailError, 502),
]
"""Domain error -> HTTP status (first match wins)."""

REFUSALS: tuple[type[Exception], ...] = (
    *(kind for kind, _status in _STATUS),
    RateLimitedError,
    ProblemError,
)
"""Every refusal a use case answers with (pages show its message beside the form)."""

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": HTTPStatus(status).phrase}
    for status in (401, 403, 404, 409, 413, 422, 429, 503)
}
"""Declared on every API route so the OpenAPI document lists the problem shapes."""


def document_problems(app: FastAPI, prefixes: tuple[str, ...]) -> None:
    """Make the OpenAPI document say what is sent: every error of the routes under
    `prefixes` is an `application/problem+json` Problem (FastAPI would document its own
    validation error shape as `application/json`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for path, operations in document.get("paths", {}).items():
            if not path.startswith(prefixes):
                continue
            for operation in operations.values():
                for status_code, response in operation.get("responses", {}).items():
                    if status_code.isdigit() and int(status_code) >= 400:
                        response["content"] = {MEDIA_TYPE: {"schema": problem_ref}}
        schemas = document["components"]["schemas"]  # Problem is there: PROBLEM_RESPONSES
        if "schemas/HTTPValidationError" not in json.dumps(document["paths"]):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def status_of(error: Exception) -> int | None:
    """The HTTP status of a domain error (None: not a refusal the caller caused)."""
    if isinstance(error, RateLimitedError):
        return 429
    if isinstance(error, ProblemError):
        return error.status
    return next((status for kind, status in _STATUS if isinstance(error, kind)), None)


def detail_of(error: Exception) -> str:
    """The message shown for a domain error (never a registry listing of tenants)."""
    return _detail_of(error, status_of(error) or 500)


def _detail_of(error: Exception, status: int) -> str:
    if isinstance(error, TenantNotFoundError):
        # The registry's message lists known tenants: never shown to API callers.
        return "tenant not found"
    return str(error)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def domain_error(_request: Request, error: Exception) -> JSONResponse:
        status = status_of(error)
        if status is None:
            raise error
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, _detail_of(error, status), headers=headers)

    async def rate_limited(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RateLimitedError)
        return problem(429, str(error), headers={"Retry-After": str(error.retry_after_seconds)})

    async def raised_problem(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return problem(error.status, error.detail, headers=error.headers)

    async def invalid_request(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            FieldProblem(
                field=".".join(str(p) for p in item["loc"] if p != "body") or "body",
                message=item["msg"],
            )
            for item in error.errors()
        ]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return problem(422, f"invalid request: {summary}", errors=errors)

    async def http_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return problem(error.status_code, str(error.detail), headers=dict(error.headers or {}))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; it has been logged")

    for kind, _status in _STATUS:
        app.add_exception_handler(kind, domain_error)
    app.add_exception_handler(RateLimitedError, rate_limited)
    app.add_exception_handler(ProblemError, raised_problem)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
