"""`tenantctl jobs list|retry`: find a failed job, retry it, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from control_plane.cli import jobs
from control_plane.queue.worker import Worker
from control_plane.registry.database import open_database
from control_plane.service import TenantService
from tests.control_plane.control_plane_helpers import (
    FailingRunner,
    RecordingRunner,
    make_settings,
    queued_job,
    spec_data,
)


@pytest.fixture
def failed_job(tmp_path: Path) -> int:
    settings = make_settings(tmp_path)
    database = open_database(settings.registry_url)
    try:
        job = queued_job(TenantService(database, settings).create(spec_data("acme"), actor="t"))
        Worker(database, settings, FailingRunner("VpcLimitExceeded", retryable=False)).drain()
    finally:
        database.dispose()
    return job


def _tenantctl(tmp_path: Path, *args: str) -> Result:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """tenantctl"""

    jobs.register(app)
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, ["jobs", *args], env=env)


def test_list_marks_the_failed_job_and_retry_queues_it_again(
    tmp_path: Path, failed_job: int
) -> None:
    listed = _tenantctl(tmp_path, "list", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(j["id"], j["status"], j["retryable"]) for j in json.loads(listed.stdout)] == [
        (failed_job, "failed", True)
    ]
    assert json.loads(listed.stdout)[0]["last_error"] == "VpcLimitExceeded"

    retried = _tenantctl(tmp_path, "retry", str(failed_job), "--actor", "olga")
    assert retried.exit_code == 0, retried.output
    assert f"retry of job {failed_job} (provision), which failed: " in retried.stdout
    assert "state updating" in retried.stdout

    settings = make_settings(tmp_path)
    database = open_database(settings.registry_url)
    try:
        Worker(database, settings, RecordingRunner()).drain()
        service = TenantService(database, settings)
        assert service.show("acme").state == "active"
        assert service.history("acme")[1].actor == "olga"
    finally:
        database.dispose()


def test_refusals_are_one_line_with_their_exit_codes(tmp_path: Path, failed_job: int) -> None:
    _tenantctl(tmp_path, "retry", str(failed_job))
    again = _tenantctl(tmp_path, "retry", str(failed_job))
    assert again.exit_code == 1
    assert again.stderr.strip() == (
        f"error: job {failed_job} was already retried as job {failed_job + 1} (queued)"
    )
    missing = _tenantctl(tmp_path, "retry", "404")
    assert (missing.exit_code, missing.stderr.strip()) == (2, "error: job 404 not found")
    unknown = _tenantctl(tmp_path, "list", "nope")
    assert unknown.exit_code == 2 and "unknown tenant 'nope'" in unknown.stderr
    assert "Traceback" not in again.output + missing.output + unknown.output
