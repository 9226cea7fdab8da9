"""Health of the tenants' services and of their control-plane records.

A tenant's health joins what the registry knows (lifecycle state, last run, failing jobs,
a desired spec not yet applied, a stack file edited by hand) with what AWS says (the
states of the tenant's CloudWatch alarms, found by name prefix and confirmed by the
`tenant` tag). Without AWS access the alarm part says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import boto3
from sqlalchemy import select
from sqlalchemy.orm import Session

from components.names import alarm_name_prefix
from components.stack_config import InvalidStackError
from control_plane.queue.jobs import APPLY_KINDS, UNFINISHED, unresolved_failure
from control_plane.registry.database import Database
from control_plane.registry.drift import drift_finding
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Job, Operation, Tenant
from control_plane.registry.repository import OperationStatus, Registry
from control_plane.registry.runs import RunMode
from control_plane.runners import sandbox
from planner.stacks import StackFiles, UnknownTenantError

CloudWatchFactory = Callable[[str], Any]
"""Region -> a boto3 CloudWatch client."""

MAX_ERROR_CHARS = 300


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    """Running, with something to look at: an alarm, drift, a retrying job."""
    FAILING = "failing"
    """Failed, or an alarm on a tenant that should serve."""
    INACTIVE = "inactive"
    """Suspended or retired: nothing is expected to serve."""
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    """`OK`, `ALARM` or `INSUFFICIENT_DATA`."""
    reason: str
    since: datetime | None


@dataclass(frozen=True)
class LastRun:
    action: str
    status: str
    mode: str | None
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class TenantHealth:
    tenant_id: str
    plan: str
    region: str
    state: str
    verdict: Verdict
    last_run: LastRun | None
    failing_jobs: list[str]
    """Jobs retrying, or failed for good with no later job answering them, with their
    last error."""
    drift: list[str]
    """Differences between the registry, the stack file and what was last applied."""
    alarms: list[AlarmState] | None
    """None when alarm states could not be read (`alarms_note` says why)."""
    alarms_note: str = ""
    problems: list[str] = field(default_factory=list)
    """Why the verdict is not healthy, one line each."""


def read_alarms(cloudwatch: Any, tenant_id: str) -> list[AlarmState]:
    """The tenant's metric alarms with their states."""
    found: list[AlarmState] = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(
        AlarmNamePrefix=alarm_name_prefix(tenant_id), AlarmTypes=["MetricAlarm"]
    ):
        for alarm in page.get("MetricAlarms", []):
            tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            if not any(t["Key"] == "tenant" and t["Value"] == tenant_id for t in tags):
                continue
            found.append(
                AlarmState(
                    name=alarm["AlarmName"],
                    state=alarm["StateValue"],
                    reason=str(alarm.get("StateReason", ""))[:MAX_ERROR_CHARS],
                    since=alarm.get("StateUpdatedTimestamp"),
                )
            )
    return sorted(found, key=lambda a: a.name)


RESOURCE_DRIFT = "resources drifted"
"""How the line about the last drift check's findings starts."""


def drift(session: Session, tenant: Tenant, stacks: StackFiles) -> list[str]:
    """What differs between the registry's desired spec, the stack file, the last run and
    (from the last drift check) the deployed resources."""
    found = spec_drift(session, tenant, stacks)
    finding = drift_finding(session, tenant.id)
    if finding is not None and finding.drifted and tenant.state != TenantState.RETIRED:
        where = "in the cloud" if finding.mode == RunMode.DEPLOY else "against the last plan"
        shown = ", ".join(r.line() for r in finding.resources[:5])
        more = len(finding.resources) - 5
        found.append(
            f"{RESOURCE_DRIFT} {where}: {len(finding.resources)} (checked "
            f"{finding.checked_at:%Y-%m-%d %H:%M} UTC): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    return found


def spec_drift(session: Session, tenant: Tenant, stacks: StackFiles) -> list[str]:
    """What differs between the registry's desired spec, the stack file and the last run."""
    if tenant.state == TenantState.RETIRED:
        return []
    found: list[str] = []
    registry = Registry(session)
    desired = registry.spec(tenant.id)
    try:
        on_disk = stacks.read_spec(tenant.id)
    except UnknownTenantError:
        found.append(
            f"stack file {stacks.path(tenant.id)} is missing "
            f"(the registry has spec v{tenant.spec_version})"
        )
    except InvalidStackError as error:
        found.append(f"stack file does not hold a valid spec: {str(error)[:MAX_ERROR_CHARS]}")
    else:
        if on_disk != desired:
            changed = changed_fields(
                desired.model_dump(mode="json"), on_disk.model_dump(mode="json")
            )
            found.append(
                "stack file differs from the registry (edited by hand, not synced): "
                + ", ".join(changed[:8])
            )
    applied = session.scalar(
        select(Operation.spec_version)
        .where(
            Operation.tenant_id == tenant.id,
            Operation.action.in_([kind.value for kind in APPLY_KINDS]),
            Operation.status == OperationStatus.SUCCEEDED.value,
        )
        .order_by(Operation.id.desc())
        .limit(1)
    )
    queued = session.scalar(
        select(Job.id).where(Job.tenant_id == tenant.id, Job.status.in_(UNFINISHED)).limit(1)
    )
    if queued is None and applied is not None and applied < tenant.spec_version:
        found.append(
            f"desired spec v{tenant.spec_version} is not applied (last applied v{applied}) "
            f"and no job is queued"
        )
    return found


def changed_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths of the fields that differ between two JSON documents."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed: list[str] = []
        for key in sorted(set(before) | set(after)):
            changed += changed_fields(before.get(key), after.get(key), f"{path}{key}.")
        return changed
    return [] if before == after else [path.rstrip(".")]


class HealthCheck:
    """Builds `TenantHealth` for one tenant or the fleet."""

    def __init__(
        self,
        database: Database,
        stacks: StackFiles,
        cloudwatch: CloudWatchFactory | None,
        *,
        no_aws_reason: str = "",
    ) -> None:
        self.database = database
        self.stacks = stacks
        self.cloudwatch = cloudwatch
        self.no_aws_reason = no_aws_reason

    def tenant(self, tenant_id: str) -> TenantHealth:
        with self.database.transaction() as session:
            tenant = Registry(session).tenant(tenant_id)
            return self._health(session, tenant)

    def fleet(self) -> list[TenantHealth]:
        with self.database.transaction() as session:
            tenants = session.scalars(select(Tenant).order_by(Tenant.id)).all()
            return [self._health(session, t) for t in tenants]

    def _health(self, session: Session, tenant: Tenant) -> TenantHealth:
        spec = Registry(session).spec(tenant.id)
        last = session.scalars(
            select(Operation)
            .where(Operation.tenant_id == tenant.id, Operation.mode.is_not(None))
            .order_by(Operation.id.desc())
            .limit(1)
        ).first()
        last_run = (
            None
            if last is None
            else LastRun(
                action=last.action,
                status=last.status,
                mode=last.mode,
                finished_at=last.finished_at,
                error=(last.error or "")[:MAX_ERROR_CHARS] or None,
            )
        )
        failing = [
            f"job {job.id} ({job.kind}) {job.status}, attempt {job.attempts}/{job.max_attempts}: "
            f"{(job.last_error or '')[:MAX_ERROR_CHARS]}"
            for job in session.scalars(
                select(Job)
                .where(Job.tenant_id == tenant.id, unresolved_failure())
                .order_by(Job.id.desc())
                .limit(5)
            )
        ]
        drifted = drift(session, tenant, self.stacks)
        alarms, note = self._alarms(tenant, spec.region)
        verdict, problems = _verdict(tenant, failing, drifted, alarms)
        return TenantHealth(
            tenant_id=tenant.id,
            plan=tenant.plan,
            region=spec.region,
            state=tenant.state,
            verdict=verdict,
            last_run=last_run,
            failing_jobs=failing,
            drift=drifted,
            alarms=alarms,
            alarms_note=note,
            problems=problems,
        )

    def _alarms(self, tenant: Tenant, region: str) -> tuple[list[AlarmState] | None, str]:
        if tenant.state == TenantState.RETIRED:
            return [], "retired: no alarms"
        if self.cloudwatch is None:
            return None, self.no_aws_reason
        try:
            return read_alarms(self.cloudwatch(region), tenant.id), ""
        except Exception as error:  # noqa: BLE001  (AWS trouble is reported, not raised)
            return None, f"alarm states not read: {type(error).__name__}: {error}"[:400]


def _verdict(
    tenant: Tenant,
    failing: list[str],
    drifted: list[str],
    alarms: list[AlarmState] | None,
) -> tuple[Verdict, list[str]]:
    problems: list[str] = []
    firing = [a.name for a in alarms or [] if a.state == "ALARM"]
    if tenant.state == TenantState.FAILED:
        problems.append(f"failed: {(tenant.last_error or 'no error kept')[:MAX_ERROR_CHARS]}")
    if firing:
        problems.append("alarms firing: " + ", ".join(firing))
    problems += drifted
    problems += failing
    if tenant.state in (TenantState.SUSPENDED, TenantState.RETIRED):
        return Verdict.INACTIVE, problems
    if tenant.state == TenantState.FAILED or (firing and tenant.state == TenantState.ACTIVE):
        return Verdict.FAILING, problems
    if problems:
        return Verdict.DEGRADED, problems
    if alarms is None and tenant.state == TenantState.ACTIVE:
        return Verdict.UNKNOWN, problems
    return Verdict.HEALTHY, problems


def aws_cloudwatch(data_dir: Path) -> tuple[CloudWatchFactory | None, str]:
    """CloudWatch clients for the local sandbox when one runs, else for the AWS account
    the environment's credentials name; without either, None and what to do about it."""
    try:
        endpoint = sandbox.active_endpoint(data_dir)
    except sandbox.SandboxError as error:
        return None, f"alarm states not read: {error}"
    if endpoint is not None:
        credentials = sandbox.FAKE_CREDENTIALS
        return (
            lambda region: boto3.client(
                "cloudwatch",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            ),
            "",
        )
    # A session of its own: boto3's default session would keep these credentials for
    # every later client of the process (the web app asks on each page).
    session = boto3.Session()
    if session.get_credentials() is None:
        return None, (
            "alarm states not read: no AWS credentials (configure them, or run "
            "`tenantctl sandbox` for the local sandbox)"
        )
    return (lambda region: session.client("cloudwatch", region_name=region)), ""
