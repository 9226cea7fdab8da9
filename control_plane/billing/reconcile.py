"""Billing reconciliation: brings each subscription's tenant in the registry to what the
subscription asks for now, through the tenant service (which queues the stack jobs).

The webhook only records events and folds them into the subscription ledgers; this step
is level-triggered: it compares the ledger's desired tenant (at the current time, so a
suspension falls due once its grace period ends) with the registry and requests the
difference. Nothing is ever requested twice, because a pass that finds the tenant as
desired requests nothing.

Each subscription is reconciled on its own: whatever one raises is kept on its ledger and
never stops the others. A request the tenant's state does not allow yet (a suspension while
the first provision runs) waits for the next pass; a failure (the database, the network
pool, anything unexpected) is retried after a delay that doubles per failure; a refusal
that will not change by itself (over the plan's limits, a tenant id that cannot be used,
a tenant owned by another subscription or created outside billing) is recorded once and
asked again only when the subscription asks for something else. The one way a subscription
takes a tenant it did not create is an open plan claim its metadata names, and the one way
a subscription's end keeps its tenant is a claim for the free plan (`billing.upgrades`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import SQLAlchemyError

from components.plans import PlanName, get_plan
from control_plane.billing.ledger import DesiredTenant, SubscriptionState, TenantPhase, desired
from control_plane.billing.settings import (
    DEFAULT_RECONCILE_BACKOFF_MAX_SECONDS,
    DEFAULT_RECONCILE_BACKOFF_SECONDS,
)
from control_plane.billing.store import taken_reason
from control_plane.billing.subscriptions import (
    Owner,
    SubscriptionStatus,
    bind_created,
    owner_of,
)
from control_plane.billing.upgrades import (
    PlanClaimView,
    bind_upgraded,
    downgrade_claim,
    matching_claim,
    released,
    unbind_downgraded,
)
from control_plane.registry.billing_models import SubscriptionLedger
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState, TransitionError
from control_plane.registry.repository import TenantNotFoundError
from control_plane.service import (
    InvalidSpecError,
    SpecChangeError,
    StackFileExistsError,
    TenantService,
    TenantView,
)

logger = logging.getLogger(__name__)

BILLING_ACTOR = "billing"
_GONE = (TenantState.DEPROVISIONING.value, TenantState.RETIRED.value)
_MAX_ERROR_CHARS = 2000
"""Errors kept on a subscription are cut here (a driver error can run long)."""


_REFUSALS = (InvalidSpecError, SpecChangeError, StackFileExistsError)
"""Refusals that asking again will not change."""


class StepOutcome(StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    """The tenant's state does not allow it yet; asked again on the next pass."""
    FAILED = "failed"
    """Retried after a backoff."""
    REFUSED = "refused"
    """Recorded once; asked again only when the subscription changes."""


@dataclass(frozen=True)
class ReconcileStep:
    """One request made (or refused) for one tenant."""

    tenant_id: str
    subscription_id: str
    request: str
    """`create`, `upgrade` (a claimed tenant joins the subscription), `change-plan`, `scale`,
    `suspend`, `resume`, `delete`, `downgrade` (the tenant leaves the ended subscription for
    the free plan), or `check` (reading the tenant, or finding it is not this
    subscription's)."""
    detail: str
    error: str | None = None
    outcome: StepOutcome = StepOutcome.QUEUED
    repeated: bool = False
    """The subscription stood exactly so after its previous pass too (a request still
    waiting for the tenant's state): a log reporting every pass may leave it out."""


def capacity_overrides(target: DesiredTenant) -> dict[str, int] | None:
    """Compute overrides for the quantity paid for: one worker per unit above one."""
    if target.plan is None or target.quantity <= 1:
        return None
    default_max = get_plan(target.plan).defaults.max_size
    return {"desired_capacity": target.quantity, "max_size": max(default_max, target.quantity)}


class BillingReconciler:
    """Requests, through `service`, what the subscription ledgers ask of their tenants."""

    def __init__(
        self,
        database: Database,
        service: TenantService,
        *,
        clock: Callable[[], float] = time.time,
        actor: str = BILLING_ACTOR,
        backoff_seconds: float = DEFAULT_RECONCILE_BACKOFF_SECONDS,
        backoff_max_seconds: float = DEFAULT_RECONCILE_BACKOFF_MAX_SECONDS,
    ) -> None:
        self._database = database
        self._service = service
        self._clock = clock
        self._actor = actor
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds

    def reconcile(self) -> list[ReconcileStep]:
        """One pass over every subscription that is due; the requests made, in order.
        Raises only when the subscriptions cannot be read at all (the database is down)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        with self._database.transaction() as session:
            rows = session.execute(
                select(
                    SubscriptionLedger.id,
                    SubscriptionLedger.state,
                    SubscriptionLedger.reconcile_status,
                    SubscriptionLedger.last_error,
                    SubscriptionLedger.failures,
                    SubscriptionLedger.retry_at,
                    SubscriptionLedger.refused_for,
                )
                .where(SubscriptionLedger.tenant_id.is_not(None))
                .order_by(SubscriptionLedger.id)
            ).all()
        steps: list[ReconcileStep] = []
        for row in rows:
            steps.extend(self._reconcile_one(row, now))
        return steps

    def _reconcile_one(self, row: Row[Any], now: datetime) -> list[ReconcileStep]:
        if row.retry_at is not None and now < row.retry_at:
            return []  # backing off after a failure
        try:
            state = SubscriptionState.model_validate(row.state)
            target = desired(state, now)
            fingerprint = hashlib.sha256(target.model_dump_json().encode()).hexdigest()
            refused = row.reconcile_status == SubscriptionStatus.REFUSED
            if refused and row.refused_for == fingerprint:
                return []  # refused before, and the subscription still asks for the same
            customer = state.snapshot.customer_id if state.snapshot else None
            claim = state.snapshot.upgrade_claim if state.snapshot else None
            steps = self._converge(row.id, target, customer, claim, now)
        except Exception as error:  # noqa: BLE001 - kept on the subscription, retried later
            snapshot = row.state.get("snapshot") or {}
            steps = [
                ReconcileStep(
                    str(snapshot.get("tenant_id", "-")),
                    row.id,
                    "check",
                    "reading the subscription's tenant",
                    error=_describe(error),
                    outcome=StepOutcome.FAILED,
                )
            ]
            fingerprint = None
        if not self._record(row, steps, fingerprint, now):
            # Queued requests are new by definition; anything else was reported before.
            steps = [
                step if step.outcome is StepOutcome.QUEUED else replace(step, repeated=True)
                for step in steps
            ]
        return steps

    def _record(
        self, row: Row[Any], steps: list[ReconcileStep], fingerprint: str | None, now: datetime
    ) -> bool:
        """Keep the pass's outcome on the subscription; whether it changed (only then is it
        written)."""
        outcomes = {step.outcome for step in steps}
        errors = [step.error for step in steps if step.error]
        failures, retry_at, refused_for = 0, None, None
        if StepOutcome.FAILED in outcomes:
            status = SubscriptionStatus.RETRYING
            failures = row.failures + 1
            delay = min(self._backoff * 2 ** (failures - 1), self._backoff_max)
            retry_at = now + timedelta(seconds=delay)
        elif StepOutcome.REFUSED in outcomes:
            status, refused_for = SubscriptionStatus.REFUSED, fingerprint
        elif StepOutcome.WAITING in outcomes:
            status = SubscriptionStatus.WAITING
        else:
            status = SubscriptionStatus.CONVERGED
        error = "; ".join(errors)[:_MAX_ERROR_CHARS] or None
        values = {
            "reconcile_status": status.value,
            "last_error": error,
            "failures": failures,
            "retry_at": retry_at,
            "refused_for": refused_for,
        }
        if all(getattr(row, key) == value for key, value in values.items()):
            return False
        try:
            with self._database.transaction() as session:
                session.execute(
                    update(SubscriptionLedger)
                    .where(SubscriptionLedger.id == row.id)
                    .values(**values, updated_at=SubscriptionLedger.updated_at)
                )
        except SQLAlchemyError as write_error:
            # The database went away mid-pass: the next pass finds the same work to do.
            logger.warning(
                "billing subscription %s: cannot record its status: %s",
                row.id,
                _describe(write_error),
            )
        return True

    def _converge(
        self,
        subscription_id: str,
        target: DesiredTenant,
        customer_id: str | None,
        upgrade_claim: str | None,
        now: datetime,
    ) -> list[ReconcileStep]:
        tenant_id = target.tenant_id
        if tenant_id is None or target.phase is TenantPhase.NONE:
            return []
        try:
            current: TenantView | None = self._service.show(tenant_id)
        except TenantNotFoundError:
            current = None
        owner = upgrade = downgrade = None
        left = False
        if current is not None:
            with self._database.transaction() as session:
                owner = owner_of(session, tenant_id)
                ours = owner is not None and owner.subscription_id == subscription_id
                live = current.state not in _GONE
                if live and target.phase is TenantPhase.RETIRED and ours:
                    downgrade = downgrade_claim(session, subscription_id, tenant_id)
                elif live and target.phase is TenantPhase.RETIRED:
                    left = released(session, subscription_id, tenant_id)
                elif (
                    live
                    and owner is None
                    and upgrade_claim is not None
                    and target.plan is not None
                    and target.phase is TenantPhase.ACTIVE
                ):
                    upgrade = matching_claim(session, upgrade_claim, tenant_id, target.plan, now)
        if current is not None and upgrade is not None:
            return self._upgrade(
                subscription_id,
                target,
                customer_id=customer_id,
                claim=upgrade,
                current=current,
                now=now,
            )
        if current is not None and downgrade is not None:
            return [self._downgrade(subscription_id, downgrade, current, now)]
        if left:
            return []  # the tenant left this subscription for the free plan
        if current is not None and (owner is None or owner.subscription_id != subscription_id):
            if target.phase is TenantPhase.RETIRED and current.state in _GONE:
                return []
            return [self._not_owned(subscription_id, tenant_id, owner)]
        if target.phase is TenantPhase.RETIRED:
            if current is None or current.state in _GONE:
                return []
            return [self._delete(subscription_id, tenant_id)]
        if current is None:
            return [self._create(subscription_id, target, customer_id)]
        if current.state in _GONE:
            return []
        return self._update(subscription_id, target, current)

    @staticmethod
    def _not_owned(subscription_id: str, tenant_id: str, owner: Owner | None) -> ReconcileStep:
        if owner is not None:
            reason = taken_reason(tenant_id, owner.subscription_id)
        else:
            reason = (
                f"tenant {tenant_id!r} was not created by billing and belongs to no "
                f"subscription; an operator links it with `tenantctl billing link {tenant_id} "
                f"--subscription {subscription_id}`"
            )
        return ReconcileStep(
            tenant_id,
            subscription_id,
            "check",
            "whose tenant it is",
            error=reason,
            outcome=StepOutcome.REFUSED,
        )

    def _create(
        self, subscription_id: str, target: DesiredTenant, customer_id: str | None
    ) -> ReconcileStep:
        assert target.tenant_id is not None and target.plan is not None
        tenant_id = target.tenant_id
        spec: dict[str, Any] = {
            "tenant_id": target.tenant_id,
            "plan": target.plan.value,
            "region": target.region,
            "residency": target.residency,
            "suspended": target.phase is TenantPhase.SUSPENDED,
        }
        if target.display_name:
            spec["display_name"] = target.display_name
        overrides = capacity_overrides(target)
        if overrides:
            spec["compute"] = overrides
        detail = f"plan {target.plan.value} in {target.region}"
        return self._attempt(
            subscription_id,
            target.tenant_id,
            "create",
            detail,
            lambda: self._service.create(
                spec,
                actor=self._actor,
                also=lambda session: bind_created(
                    session, tenant_id, subscription_id, customer_id, self._actor
                ),
            ),
        )

    def _upgrade(
        self,
        subscription_id: str,
        target: DesiredTenant,
        *,
        customer_id: str | None,
        claim: PlanClaimView,
        current: TenantView,
        now: datetime,
    ) -> list[ReconcileStep]:
        """Bind the claimed tenant to the subscription and move it to the plan, in the name
        of the user who claimed it; the rest of the subscription follows as an update."""
        assert target.tenant_id is not None and target.plan is not None
        tenant_id, plan = target.tenant_id, target.plan
        step = self._attempt(
            subscription_id,
            tenant_id,
            "upgrade",
            f"{current.plan} -> {plan.value} claimed by {claim.actor}",
            lambda: self._service.change_plan(
                tenant_id,
                plan,
                actor=claim.actor,
                also=lambda session: bind_upgraded(
                    session, claim, subscription_id, customer_id, now
                ),
            ),
        )
        if step.outcome is not StepOutcome.QUEUED:
            return [step]
        return [step, *self._update(subscription_id, target, self._service.show(tenant_id))]

    def _downgrade(
        self, subscription_id: str, claim: PlanClaimView, current: TenantView, now: datetime
    ) -> ReconcileStep:
        """Keep the tenant on the free plan, freed from the subscription that ended, in the
        name of the user who asked (instead of retiring it)."""
        tenant_id = current.tenant_id
        return self._attempt(
            subscription_id,
            tenant_id,
            "downgrade",
            f"{current.plan} -> free asked by {claim.actor}; the subscription ended",
            lambda: self._service.change_plan(
                tenant_id,
                PlanName.FREE,
                actor=claim.actor,
                also=lambda session: unbind_downgraded(session, claim, now),
            ),
        )

    def _update(
        self, subscription_id: str, target: DesiredTenant, current: TenantView
    ) -> list[ReconcileStep]:
        assert target.tenant_id is not None and target.plan is not None
        tenant_id, plan = target.tenant_id, target.plan
        steps: list[ReconcileStep] = []
        if current.plan != plan.value:
            steps.append(
                self._attempt(
                    subscription_id,
                    tenant_id,
                    "change-plan",
                    f"{current.plan} -> {plan.value}",
                    lambda: self._service.change_plan(tenant_id, plan, actor=self._actor),
                )
            )
        wanted = capacity_overrides(target)
        compute = current.spec.get("compute", {})
        if wanted and any(compute.get(k) != v for k, v in wanted.items()):
            steps.append(
                self._attempt(
                    subscription_id,
                    tenant_id,
                    "scale",
                    f"{target.quantity} workers paid for",
                    lambda: self._service.update(
                        tenant_id,
                        {"compute": wanted},
                        actor=self._actor,
                        reason=f"subscription quantity {target.quantity}",
                    ),
                )
            )
        want_suspended = target.phase is TenantPhase.SUSPENDED
        if bool(current.spec.get("suspended", False)) != want_suspended:
            request = "suspend" if want_suspended else "resume"
            reason = "payment overdue" if want_suspended else "payment settled"
            call = self._service.suspend if want_suspended else self._service.resume
            steps.append(
                self._attempt(
                    subscription_id,
                    tenant_id,
                    request,
                    reason,
                    lambda: call(tenant_id, actor=self._actor, reason=reason),
                )
            )
        return steps

    def _delete(self, subscription_id: str, tenant_id: str) -> ReconcileStep:
        return self._attempt(
            subscription_id,
            tenant_id,
            "delete",
            "data stores retained",
            lambda: self._service.delete(tenant_id, actor=self._actor),
        )

    @staticmethod
    def _attempt(
        subscription_id: str,
        tenant_id: str,
        request: str,
        detail: str,
        call: Callable[[], object],
    ) -> ReconcileStep:
        outcome = StepOutcome.QUEUED
        error: str | None = None
        try:
            call()
        except TransitionError as refused:
            outcome, error = StepOutcome.WAITING, str(refused)
        except _REFUSALS as refused:
            outcome, error = StepOutcome.REFUSED, str(refused)
        except Exception as failure:  # noqa: BLE001 - one subscription never stops the others
            outcome, error = StepOutcome.FAILED, _describe(failure)
        return ReconcileStep(tenant_id, subscription_id, request, detail, error, outcome)


def _describe(error: BaseException) -> str:
    """One line for the log and the ledger: the error's type and its first line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
