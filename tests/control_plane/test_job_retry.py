"""Retrying a failed job: a new job names the failed one, the tenant's state follows the
lifecycle table, and every refusal leaves the registry as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from control_plane.queue.jobs import JobKind, JobNotFoundError, JobNotRetryableError
from control_plane.queue.worker import Worker
from control_plane.registry.database import Database, open_database
from control_plane.registry.models import Job, Operation
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.control_plane.control_plane_helpers import (
    FailingRunner,
    RecordingRunner,
    make_settings,
    queued_job,
    spec_data,
)

OPERATOR = "user:ops@provider.example"


@pytest.fixture
def registry(tmp_path: Path, database_url: str) -> Iterator[tuple[Database, Settings]]:
    settings = make_settings(tmp_path, database_url)
    database = open_database(settings.registry_url)
    yield database, settings
    database.dispose()


def _failed_tenant(database: Database, settings: Settings) -> tuple[TenantService, int]:
    service = TenantService(database, settings)
    job = queued_job(service.create(spec_data("acme"), actor="test"))
    Worker(database, settings, FailingRunner("VpcLimitExceeded", retryable=False)).drain()
    assert service.show("acme").state == "failed"
    return service, job


def _counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        jobs = session.scalar(select(func.count()).select_from(Job)) or 0
        operations = session.scalar(select(func.count()).select_from(Operation)) or 0
    return jobs, operations


def test_a_failed_provision_is_retried_as_a_new_job_and_the_tenant_recovers(
    registry: tuple[Database, Settings],
) -> None:
    database, settings = registry
    service, failed = _failed_tenant(database, settings)

    accepted = service.retry_job(failed, actor=OPERATOR)

    retry = queued_job(accepted)
    assert retry != failed
    assert accepted.state == "updating"
    assert accepted.message.startswith(f"retry of job {failed} (provision), which failed: ")
    assert "VpcLimitExceeded" in accepted.message
    with database.transaction() as session:
        row = session.get(Job, retry)
        assert row is not None
        assert (row.kind, row.status, row.retry_of, row.actor, row.attempts) == (
            "provision",
            "queued",
            failed,
            OPERATOR,
            0,
        )
    request = service.history("acme", limit=1)[0]
    assert (request.action, request.actor, request.job_id) == ("retry", OPERATOR, retry)

    Worker(database, settings, RecordingRunner()).drain()
    assert service.show("acme").state == "active"
    assert service.job(retry).status == "succeeded"
    assert service.job(failed).status == "failed"  # the record of the failure stays


def test_only_a_failed_job_is_retried(registry: tuple[Database, Settings]) -> None:
    database, settings = registry
    service = TenantService(database, settings)
    job = queued_job(service.create(spec_data("acme"), actor="test"))
    before = _counts(database)
    with pytest.raises(
        JobNotRetryableError,
        match=rf"^job {job} is queued, not failed: only a failed job can be retried$",
    ):
        service.retry_job(job, actor=OPERATOR)
    Worker(database, settings, RecordingRunner()).drain()
    with pytest.raises(JobNotRetryableError, match=f"job {job} is succeeded, not failed"):
        service.retry_job(job, actor=OPERATOR)
    assert _counts(database)[0] == before[0]


def test_a_job_is_retried_once_and_not_after_a_later_operation(
    registry: tuple[Database, Settings],
) -> None:
    database, settings = registry
    service, failed = _failed_tenant(database, settings)
    retry = queued_job(service.retry_job(failed, actor=OPERATOR))
    before = _counts(database)
    with pytest.raises(
        JobNotRetryableError, match=rf"^job {failed} was already retried as job {retry} \(queued\)$"
    ):
        service.retry_job(failed, actor=OPERATOR)
    assert _counts(database) == before

    # The retry fails too; then an operator's `up` answers it: the old failure is moot.
    Worker(database, settings, FailingRunner("VpcLimitExceeded", retryable=False)).drain()
    up = queued_job(service.run("acme", JobKind.UP, actor=OPERATOR))
    with pytest.raises(JobNotRetryableError, match=rf"followed by job {up} \(up, queued\)"):
        service.retry_job(retry, actor=OPERATOR)


def test_unknown_job_and_a_state_that_refuses_leave_nothing_behind(
    registry: tuple[Database, Settings],
) -> None:
    database, settings = registry
    service, _failed = _failed_tenant(database, settings)
    with pytest.raises(JobNotFoundError, match=r"^job 999 not found$"):
        service.retry_job(999, actor=OPERATOR)
    # A failed preview of a tenant that was retired meanwhile: the lifecycle refuses.
    Worker(database, settings, RecordingRunner()).drain()
    preview = queued_job(service.run("acme", JobKind.PREVIEW, actor=OPERATOR))
    with database.transaction() as session:
        row = session.get(Job, preview)
        assert row is not None
        row.status, row.last_error = "failed", "preview crashed"
    service.delete("acme", actor=OPERATOR)
    Worker(database, settings, RecordingRunner()).drain()
    before = _counts(database)
    with pytest.raises(Exception, match=r"cannot preview tenant 'acme' in state 'retired'"):
        service.retry_job(preview, actor=OPERATOR)
    assert _counts(database) == before
    assert service.show("acme").state == "retired"
