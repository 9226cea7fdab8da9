"""Log lines of the worker and the server: plain text, or one JSON object per line.

Every line carries the tenant and the job it is about (null when it is about neither),
taken from context variables that the worker sets around a job and the web app around a
request, so a line written deep inside a runner is still attributed without passing ids
down. Only the standard library's `logging` is used.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from control_plane.settings import LogFormat, Settings

_TENANT: ContextVar[str | None] = ContextVar("tenants_log_tenant", default=None)
_JOB: ContextVar[int | None] = ContextVar("tenants_log_job", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [tenant=%(tenant)s job=%(job)s] %(message)s"
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""uvicorn configures its own handlers; they are pointed at ours."""


@contextmanager
def log_context(*, tenant: str | None = None, job: int | None = None) -> Iterator[None]:
    """Attribute every line logged inside (in this thread or task) to `tenant` and `job`."""
    tenant_token = _TENANT.set(tenant if tenant is not None else _TENANT.get())
    job_token = _JOB.set(job if job is not None else _JOB.get())
    try:
        yield
    finally:
        _JOB.reset(job_token)
        _TENANT.reset(tenant_token)


class ContextFilter(logging.Filter):
    """Puts the current tenant and job on every record (`record.tenant`, `record.job`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.tenant = _TENANT.get()
        record.job = _JOB.get()
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "tenant", "job"[, "error"]}` per line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "tenant": getattr(record, "tenant", None),
            "job": getattr(record, "job", None),
        }
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(
    log_format: LogFormat, *, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """One handler on the root logger (and uvicorn's) in the chosen format; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        for old in list(server_logger.handlers):
            server_logger.removeHandler(old)
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)  # the root's level decides, access lines too
    return handler


def configure_for(settings: Settings) -> logging.Handler:
    """The worker's and the server's logging: JSON lines from `info` up for a collector, or
    text from `warning` up beside the commands' own console output."""
    if settings.log_format is LogFormat.JSON:
        return configure_logging(LogFormat.JSON, level=logging.INFO)
    return configure_logging(LogFormat.TEXT, level=logging.WARNING)
