"""Billing reconciliation: brings each subscription's tenant in the registry to what the
subscription asks for now, through the tenant service (which queues the stack jobs).

The webhook only records events and folds them into the subscription ledgers; this step
is level-triggered: it compares the ledger's desired tenant (at the current time, so a
suspension falls due once its grace period ends) with the registry and requests the
difference. A request the tenant's state does not allow yet (a suspension while the first
provision still runs) is retried on the next pass; nothing is ever requested twice,
because a pass that finds the tenant as desired requests nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from components.plans import get_plan
from control_plane.billing.ledger import DesiredTenant, SubscriptionState, TenantPhase, desired
from control_plane.registry.billing_models import SubscriptionLedger
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState, TransitionError
from control_plane.registry.repository import TenantNotFoundError
from control_plane.service import InvalidSpecError, TenantService, TenantView

logger = logging.getLogger(__name__)

BILLING_ACTOR = "billing"
_GONE = (TenantState.DEPROVISIONING.value, TenantState.RETIRED.value)


@dataclass(frozen=True)
class ReconcileStep:
    """One request made (or refused) for one tenant."""

    tenant_id: str
    subscription_id: str
    request: str
    """`create`, `change-plan`, `scale`, `suspend`, `resume` or `delete`."""
    detail: str
    error: str | None = None


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
    ) -> None:
        self._database = database
        self._service = service
        self._clock = clock
        self._actor = actor

    def reconcile(self) -> list[ReconcileStep]:
        """One pass over every subscription; the requests made, in order."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        with self._database.transaction() as session:
            rows = session.execute(
                select(SubscriptionLedger.id, SubscriptionLedger.state)
                .where(SubscriptionLedger.tenant_id.is_not(None))
                .order_by(SubscriptionLedger.id)
            ).all()
        steps: list[ReconcileStep] = []
        for subscription_id, state in rows:
            target = desired(SubscriptionState.model_validate(state), now)
            steps.extend(self._converge(subscription_id, target))
        for step in steps:
            if step.error:
                logger.warning(
                    "billing %s of %s refused: %s", step.request, step.tenant_id, step.error
                )
        return steps

    def _converge(self, subscription_id: str, target: DesiredTenant) -> list[ReconcileStep]:
        tenant_id = target.tenant_id
        if tenant_id is None or target.phase is TenantPhase.NONE:
            return []
        try:
            current: TenantView | None = self._service.show(tenant_id)
        except TenantNotFoundError:
            current = None
        if target.phase is TenantPhase.RETIRED:
            if current is None or current.state in _GONE:
                return []
            return [self._delete(subscription_id, tenant_id)]
        if current is None:
            return [self._create(subscription_id, target)]
        if current.state in _GONE:
            return []
        return self._update(subscription_id, target, current)

    def _create(self, subscription_id: str, target: DesiredTenant) -> ReconcileStep:
        assert target.tenant_id is not None and target.plan is not None
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
            lambda: self._service.create(spec, actor=self._actor),
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
        try:
            call()
        except (TransitionError, InvalidSpecError) as error:
            return ReconcileStep(tenant_id, subscription_id, request, detail, error=str(error))
        return ReconcileStep(tenant_id, subscription_id, request, detail)
