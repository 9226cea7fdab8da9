"""JSON log lines (`TENANTS_LOG_FORMAT=json`): one object per line, tenant and job in each."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from control_plane.logs import configure_logging, log_context
from control_plane.queue.worker import Worker
from control_plane.registry.database import open_database
from control_plane.service import TenantService
from control_plane.settings import LogFormat
from control_plane.web.log_context import RequestLogContext
from tests.control_plane.control_plane_helpers import (
    FailingRunner,
    RecordingRunner,
    make_settings,
    spec_data,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    configure_logging(LogFormat.JSON, stream=buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_an_object_with_tenant_and_job(stream: io.StringIO) -> None:
    log = logging.getLogger("tenants.test")
    log.info("outside")
    with log_context(tenant="acme", job=7):
        log.warning("inside %s", "a job")
        with log_context(tenant="globex"):
            log.info("nested")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")

    outside, inside, nested, failed = _lines(stream)
    assert outside["tenant"] is None and outside["job"] is None
    assert inside == {
        "time": inside["time"],
        "level": "warning",
        "logger": "tenants.test",
        "message": "inside a job",
        "tenant": "acme",
        "job": 7,
    }
    assert (nested["tenant"], nested["job"]) == ("globex", 7)
    assert failed["level"] == "error" and "ValueError: boom" in failed["error"]


def test_the_worker_logs_each_job_with_its_tenant_and_job(
    stream: io.StringIO, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    database = open_database(settings.registry_url)
    try:
        service = TenantService(database, settings)
        job = service.create(spec_data("acme"), actor="ops").job_id
        Worker(database, settings, RecordingRunner()).drain()
        service.create(spec_data("globex"), actor="ops")
        Worker(database, settings, FailingRunner("engine says no", retryable=False)).drain()
    finally:
        database.dispose()

    lines = [line for line in _lines(stream) if line["logger"] == "control_plane.queue.worker"]
    assert {(line["tenant"], line["job"]) for line in lines} == {("acme", job), ("globex", 2)}
    assert any(line["message"] == f"job {job}: succeeded" for line in lines)
    failure = next(line for line in lines if line["level"] == "warning")
    assert failure["tenant"] == "globex" and "engine says no" in failure["message"]


def test_a_request_about_a_tenant_is_attributed_to_it(stream: io.StringIO) -> None:
    def endpoint(request: Request) -> PlainTextResponse:
        logging.getLogger("tenants.web").info("serving %s", request.url.path)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{path:path}", endpoint)])
    client = TestClient(RequestLogContext(app))
    client.get("/api/v1/tenants/acme/spec")
    client.get("/healthz")

    about_acme, health = [line for line in _lines(stream) if line["logger"] == "tenants.web"]
    assert (
        about_acme["tenant"] == "acme"
        and about_acme["message"] == "serving /api/v1/tenants/acme/spec"
    )
    assert health["tenant"] is None


def test_tenants_log_format_json_makes_the_worker_write_json_lines(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TENANTS_")},
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "control_plane.cli"]
    create = [*command, "tenants", "create", "acme", "--plan", "free", "--region", "eu-west-1"]
    subprocess.run(create, env=env, check=True, capture_output=True, timeout=120)

    drained = subprocess.run(
        [*command, "worker", "--drain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert drained.returncode == 0, drained.stderr
    lines = [json.loads(line) for line in drained.stderr.splitlines()]
    assert lines and all(
        {"time", "level", "logger", "message", "tenant", "job"} <= set(line) for line in lines
    )
    about_the_job = [line for line in lines if line["logger"] == "control_plane.queue.worker"]
    assert [line["message"] for line in about_the_job] == [
        "job 1: provision acme, attempt 1",
        "job 1: succeeded",
    ]
    assert {(line["tenant"], line["job"]) for line in about_the_job} == {("acme", 1)}
