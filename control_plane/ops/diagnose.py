"""`diagnose`: everything a support engineer needs about one tenant, in one report.

State and why, the last operations with their errors and engine messages, policy
findings, health (alarms, drift, failing jobs), billing, and for each known failure the
next step to take. The hints are matched on the messages the engine, AWS and our own
services write, so a new failure mode needs one new row in `KNOWN_FAILURES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.billing.ledger import SubscriptionState, TenantPhase, desired
from control_plane.cells.capacity import QuotaUse, cell_use
from control_plane.cells.placement import placed_in
from control_plane.ops.health import RESOURCE_DRIFT, HealthCheck, TenantHealth
from control_plane.registry.billing_models import SubscriptionLedger
from control_plane.registry.cell_models import CellRecord, TenantPlacement
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Job, utcnow
from control_plane.registry.repository import Registry
from planner.quotas import ACCOUNT_SCOPE

MAX_TEXT = 400
EVENT_LINES = 8


@dataclass(frozen=True)
class OperationSummary:
    id: int
    action: str
    actor: str
    status: str
    mode: str | None
    started_at: datetime
    error: str | None
    policy_violations: list[str]
    engine_messages: list[str]
    """The last lines the engine wrote for this operation."""


@dataclass(frozen=True)
class BillingSummary:
    subscription_id: str
    status: str
    plan: str | None
    phase: str
    """What the subscription asks of the tenant: active, suspended, retired, none."""
    payment: str
    """`paid`, `failed on <date>`, or `none recorded`."""
    suspend_at: datetime | None


@dataclass(frozen=True)
class QuotaSummary:
    """The quotas of the tenant's cell that its region and account draw on."""

    cell: str | None
    """None: not placed in a cell (the ambient credentials' account, quotas not tracked)."""
    account_id: str | None
    headroom_percent: int
    use: list[QuotaUse]
    """Reserved units against each quota less the headroom, this tenant included."""
    quotas_read_at: datetime | None

    @property
    def reached(self) -> list[QuotaUse]:
        return [row for row in self.use if row.used >= row.limit]


@dataclass(frozen=True)
class Diagnosis:
    tenant_id: str
    plan: str
    region: str
    state: str
    why: str
    """The state in a sentence: what put the tenant there."""
    health: TenantHealth
    operations: list[OperationSummary]
    billing: list[BillingSummary]
    quotas: QuotaSummary
    next_steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KnownFailure:
    name: str
    pattern: re.Pattern[str]
    step: Callable[[str], str]


KNOWN_FAILURES: tuple[KnownFailure, ...] = (
    KnownFailure(
        "locked stack",
        re.compile(r"ConcurrentUpdateError|currently locked|stack is locked", re.I),
        lambda t: (
            "another update holds the stack's lock: wait for it to finish; if none is "
            f"running, `pulumi cancel -s {t}` releases it, then `tenantctl up {t}`"
        ),
    ),
    KnownFailure(
        "quota reached",
        re.compile(
            r"LimitExceeded|QuotaExceeded|ServiceQuota|AddressLimitExceeded|VpcLimitExceeded",
            re.I,
        ),
        lambda t: (
            "an AWS service quota is reached in the tenant's account and region: request an "
            "increase in Service Quotas (or free capacity; for a cell's account, then "
            f"`tenantctl cells refresh CELL`), then `tenantctl up {t}`"
        ),
    ),
    KnownFailure(
        "plan limit refused",
        re.compile(r"exceeds plan|not allowed on plan|over the plan|plan '\w+' limit", re.I),
        lambda t: (
            "the spec asks for more than the plan allows: change it within the limits "
            f"(`tenantctl tenants update {t} --set ...`) or upgrade the plan"
        ),
    ),
    KnownFailure(
        "policy violation",
        re.compile(r"mandatory policy|policy violation|refused by policy", re.I),
        lambda t: (
            f"the policy pack refused the run: `tenantctl check {t}` lists the findings "
            "with their remediation"
        ),
    ),
    KnownFailure(
        "credentials",
        re.compile(r"ExpiredToken|InvalidClientTokenId|NoCredentialProviders|AccessDenied", re.I),
        lambda t: (
            "AWS refused the control plane's credentials: check the runner's role and its "
            f"trust, then `tenantctl up {t}`"
        ),
    ),
)


def next_steps(tenant_id: str, texts: list[str]) -> list[str]:
    """One step per known failure found in `texts`, in the order of `KNOWN_FAILURES`."""
    joined = "\n".join(texts)
    return [f.step(tenant_id) for f in KNOWN_FAILURES if f.pattern.search(joined)]


class Diagnostician:
    def __init__(self, database: Database, health: HealthCheck) -> None:
        self.database = database
        self.health = health

    def diagnose(self, tenant_id: str, *, now: datetime | None = None) -> Diagnosis:
        health = self.health.tenant(tenant_id)
        moment = now or utcnow()
        with self.database.transaction() as session:
            registry = Registry(session)
            tenant = registry.tenant(tenant_id)
            operations = [
                OperationSummary(
                    id=op.id,
                    action=op.action,
                    actor=op.actor,
                    status=op.status,
                    mode=op.mode,
                    started_at=op.started_at,
                    error=(op.error or "")[:MAX_TEXT] or None,
                    policy_violations=list(op.policy_violations),
                    engine_messages=[
                        e.message[:MAX_TEXT] for e in registry.events(op.id)[-EVENT_LINES:]
                    ],
                )
                for op in registry.operations(tenant_id, limit=5)
            ]
            pending = session.scalars(
                select(Job)
                .where(Job.tenant_id == tenant_id, Job.status.in_(("queued", "running")))
                .order_by(Job.id)
            ).all()
            ledgers = session.scalars(
                select(SubscriptionLedger).where(SubscriptionLedger.tenant_id == tenant_id)
            ).all()
            billing = [_billing(row, moment) for row in ledgers]
            quotas = quota_summary(session, tenant_id)
            why = _why(tenant.state, tenant.last_error, pending, billing)
            texts = [tenant.last_error or ""]
            texts += [op.error or "" for op in operations[:2]]
            texts += [v for op in operations[:1] for v in op.policy_violations]
            steps = next_steps(tenant_id, texts)
            steps += _billing_steps(tenant_id, billing)
            if tenant.state == TenantState.FAILED and not steps:
                steps.append(
                    f"read the engine messages below, fix the cause, then `tenantctl up "
                    f"{tenant_id}` retries"
                )
            steps += _quota_steps(tenant_id, quotas)
            for line in health.drift:
                if line.startswith("desired spec"):
                    steps.append(f"`tenantctl up {tenant_id}` applies the registry's desired spec")
                elif line.startswith(RESOURCE_DRIFT):
                    steps.append(
                        f"resources differ from the last `up`: `tenantctl drift {tenant_id}` "
                        f"lists them; `tenantctl drift --repair {tenant_id}` queues an `up` "
                        "that puts them back (a change made outside that should stay goes "
                        f"into the spec first: `tenantctl tenants update {tenant_id} --set ...`)"
                    )
                else:
                    steps.append(
                        f"`tenantctl sync {tenant_id}` takes the edited stack file in as a spec "
                        f"change; `tenantctl tenants show {tenant_id}` shows the registry's spec"
                    )
            return Diagnosis(
                tenant_id=tenant_id,
                plan=tenant.plan,
                region=health.region,
                state=registry.display_state(tenant),
                why=why,
                health=health,
                operations=operations,
                billing=billing,
                quotas=quotas,
                next_steps=steps,
            )


def quota_summary(session: Session, tenant_id: str) -> QuotaSummary:
    """Use of the tenant's cell quotas in its region and account-wide."""
    placement = session.get(TenantPlacement, tenant_id)
    cell = session.get(CellRecord, placement.cell_name) if placement is not None else None
    if placement is None or cell is None:
        return QuotaSummary(None, None, 0, [], None)
    rows = cell_use(cell.quotas, cell.headroom_percent, cell.regions, placed_in(session, cell.name))
    return QuotaSummary(
        cell=cell.name,
        account_id=cell.account_id,
        headroom_percent=cell.headroom_percent,
        use=[row for row in rows if row.scope in (placement.region, ACCOUNT_SCOPE)],
        quotas_read_at=cell.quotas_read_at,
    )


def _quota_steps(tenant_id: str, quotas: QuotaSummary) -> list[str]:
    return [
        f"quota reached in cell {quotas.cell}: {row.title} in {row.scope} is at {row.used} of "
        f"{row.limit} (quota {row.value:g} less {quotas.headroom_percent}% headroom); "
        f"{tenant_id}'s own reservation is counted, but a plan upgrade or another tenant "
        f"there does not fit: raise the quota in account {quotas.account_id} (Service "
        f"Quotas), then `tenantctl cells refresh {quotas.cell}`"
        for row in quotas.reached
    ]


def _billing(row: SubscriptionLedger, now: datetime) -> BillingSummary:
    state = SubscriptionState.model_validate(row.state)
    wanted = desired(state, now)
    snapshot, payment = state.snapshot, state.payment
    if payment is None:
        paid = "none recorded"
    elif payment.failed:
        paid = f"payment failed on {payment.at:%Y-%m-%d} (invoice {payment.invoice_id})"
    else:
        paid = f"paid on {payment.at:%Y-%m-%d}"
    return BillingSummary(
        subscription_id=row.id,
        status=snapshot.status if snapshot else "unknown",
        plan=snapshot.plan.value if snapshot else None,
        phase=wanted.phase.value,
        payment=paid,
        suspend_at=wanted.suspend_at,
    )


def _why(
    state: str, last_error: str | None, pending: Sequence[Job], billing: list[BillingSummary]
) -> str:
    queued = ", ".join(f"job {j.id} ({j.kind}, {j.status})" for j in pending)
    if state == TenantState.FAILED:
        return f"the last stack operation failed after its retries: {(last_error or '')[:MAX_TEXT]}"
    if state == TenantState.SUSPENDED:
        by_billing = [b for b in billing if b.phase == TenantPhase.SUSPENDED]
        if by_billing:
            first = by_billing[0]
            return f"suspended by billing: subscription {first.subscription_id}, {first.payment}"
        return "suspended on request: compute at zero, every data store kept"
    if state in (TenantState.PENDING, TenantState.PROVISIONING, TenantState.UPDATING):
        return f"{state}: {queued}" if queued else f"{state}, but no job is queued or running"
    if state == TenantState.DEPROVISIONING:
        return f"being retired: {queued}" if queued else "being retired, but no job is queued"
    if state == TenantState.RETIRED:
        return "retired: the stack is destroyed; retained data stores are listed by `tenants show`"
    return "active: the desired spec is applied"


def _billing_steps(tenant_id: str, billing: list[BillingSummary]) -> list[str]:
    steps = []
    for summary in billing:
        if summary.suspend_at is not None:
            steps.append(
                f"{summary.payment}: the tenant is suspended at "
                f"{summary.suspend_at:%Y-%m-%d %H:%M} UTC unless the invoice is paid"
            )
        elif summary.phase == TenantPhase.SUSPENDED and "failed" in summary.payment:
            steps.append(
                f"payment {summary.payment}: paying the invoice resumes {tenant_id} automatically"
            )
    return steps
