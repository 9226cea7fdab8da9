"""Fleet health and diagnosis: alarm states from CloudWatch (moto), drift between the
registry, the stack file and what was applied, and next steps for known failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from sqlalchemy import update

from components.names import alarm_name
from components.plans import PlanName
from control_plane.billing.events import PaymentFact, SubscriptionPhase, SubscriptionSnapshot
from control_plane.billing.ledger import SubscriptionState
from control_plane.ops.diagnose import Diagnostician, next_steps
from control_plane.ops.health import HealthCheck, Verdict
from control_plane.registry.billing_models import SubscriptionLedger
from control_plane.registry.database import Database
from control_plane.registry.models import Job
from control_plane.service import TenantService
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import FailingRunner, spec_data

REGION = "eu-west-1"
Drain = Callable[..., None]


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def _alarm(cloudwatch: Any, tenant: str, role: str, *, tag: str | None = None) -> str:
    name = alarm_name(tenant, role)
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=2,
        Threshold=85.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "tenant", "Value": tag or tenant}],
    )
    return name


def _check(database: Database, stacks: StackFiles, cloudwatch: Any | None) -> HealthCheck:
    factory = None if cloudwatch is None else (lambda _region: cloudwatch)
    return HealthCheck(database, stacks, factory, no_aws_reason="no AWS credentials")


def test_alarm_states_decide_the_verdict(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain, cloudwatch: Any
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    cpu = _alarm(cloudwatch, "acme", "cpu-high")
    _alarm(cloudwatch, "acme", "status-check")
    _alarm(cloudwatch, "acme-eu", "cpu-high")  # another tenant sharing the name prefix
    check = _check(database, stacks, cloudwatch)
    for name in (cpu, alarm_name("acme", "status-check")):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="fine")

    healthy = check.tenant("acme")
    assert healthy.verdict is Verdict.HEALTHY
    assert [a.name for a in healthy.alarms or []] == [cpu, alarm_name("acme", "status-check")]

    cloudwatch.set_alarm_state(AlarmName=cpu, StateValue="ALARM", StateReason="CPU 97%")
    failing = check.tenant("acme")
    assert failing.verdict is Verdict.FAILING
    assert failing.problems == [f"alarms firing: {cpu}"]


def test_without_aws_the_alarm_part_says_why(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    report = _check(database, stacks, None).tenant("acme")
    assert report.alarms is None
    assert report.alarms_note == "no AWS credentials"
    assert report.verdict is Verdict.UNKNOWN


def test_a_suspended_tenant_is_inactive_not_failing(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain, cloudwatch: Any
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    service.suspend("acme", actor="ops")
    drain()
    name = _alarm(cloudwatch, "acme", "capacity-low")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="0 instances")
    assert _check(database, stacks, cloudwatch).tenant("acme").verdict is Verdict.INACTIVE


def test_a_hand_edited_stack_file_is_drift(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    path = stacks.path("acme")
    document = yaml.safe_load(path.read_text())
    document["config"]["tenants:spec"]["compute"] = {"max_size": 3}
    path.write_text(yaml.safe_dump(document))

    report = _check(database, stacks, None).tenant("acme")

    assert report.drift == [
        "stack file differs from the registry (edited by hand, not synced): compute.max_size"
    ]
    assert report.verdict is Verdict.DEGRADED
    path.unlink()
    assert "is missing" in _check(database, stacks, None).tenant("acme").drift[0]


def test_a_desired_spec_never_applied_is_drift(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    service.update("acme", {"compute": {"max_size": 3}}, actor="ops")
    check = _check(database, stacks, None)
    assert check.tenant("acme").drift == [], "a queued job is on its way: not drift"
    with database.transaction() as session:
        session.execute(update(Job).where(Job.status == "queued").values(status="superseded"))

    assert check.tenant("acme").drift == [
        "desired spec v2 is not applied (last applied v1) and no job is queued"
    ]


def test_fleet_health_lists_every_tenant(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    for tenant in ("acme", "globex"):
        service.create(spec_data(tenant), actor="ops")
    drain()
    assert [h.tenant_id for h in _check(database, stacks, None).fleet()] == ["acme", "globex"]


# -- diagnosis ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        ("error: [409] Conflict: ConcurrentUpdateError: the stack is currently locked", "lock"),
        ("creating EC2 VPC: VpcLimitExceeded: The maximum number of VPCs", "Service Quotas"),
        ("max_size 9 exceeds plan 'starter' limit of 3", "upgrade the plan"),
        ("1 mandatory policy violation: aws-s3-bucket-...", "tenantctl check acme"),
        ("provision failed: refused by policy: aws-secretsmanager-...", "tenantctl check acme"),
        ("operation error STS: AssumeRole, ExpiredToken", "credentials"),
    ],
)
def test_known_failures_have_a_next_step(message: str, hint: str) -> None:
    [step] = next_steps("acme", [message])
    assert hint in step


def test_an_unknown_failure_has_no_invented_step() -> None:
    assert next_steps("acme", ["something nobody has seen before"]) == []


def test_diagnosis_of_a_failed_tenant(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="alice")
    drain(FailingRunner("ConcurrentUpdateError: the stack is currently locked", retryable=False))

    report = Diagnostician(database, _check(database, stacks, None)).diagnose("acme")

    assert report.state == "failed"
    assert report.why.startswith("the last stack operation failed after its retries")
    assert "pulumi cancel -s acme" in report.next_steps[0]
    failed = report.operations[0]
    assert failed.status == "failed" and "currently locked" in (failed.error or "")
    assert any("error: ConcurrentUpdateError" in line for line in failed.engine_messages)
    assert report.operations[-1].actor == "alice"
    assert report.billing == []


def test_diagnosis_shows_a_pending_suspension_for_a_failed_payment(
    service: TenantService, database: Database, stacks: StackFiles, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="billing")
    drain()
    failed_at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    state = SubscriptionState(
        subscription_id="sub_1",
        snapshot=SubscriptionSnapshot(
            tenant_id="acme",
            display_name=None,
            region=REGION,
            residency="eu",
            plan=PlanName.STARTER,
            quantity=1,
            phase=SubscriptionPhase.RUNNING,
            status="past_due",
        ),
        snapshot_key=(1, 0, "evt_a"),
        payment=PaymentFact(
            failed=True,
            at=failed_at,
            invoice_id="in_9",
            suspend_at=failed_at + timedelta(days=3),
        ),
        payment_key=(2, 0, "evt_b"),
    )
    with database.transaction() as session:
        session.add(
            SubscriptionLedger(id="sub_1", tenant_id="acme", state=state.model_dump(mode="json"))
        )

    report = Diagnostician(database, _check(database, stacks, None)).diagnose(
        "acme", now=failed_at + timedelta(days=1)
    )

    [billing] = report.billing
    assert billing.payment == "payment failed on 2026-11-28 (invoice in_9)"
    assert billing.suspend_at == failed_at + timedelta(days=3)
    assert report.next_steps == [
        "payment failed on 2026-11-28 (invoice in_9): the tenant is suspended at "
        "2026-12-01 09:00 UTC unless the invoice is paid"
    ]
