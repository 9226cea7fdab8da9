"""Changes a tenant's own users ask for that billing decides: a change of plan and the
retirement of a tenant that belongs to a subscription.

The API does not change such a tenant in the registry: it asks the billing system to
change (or cancel) the subscription, and the signed `customer.subscription.updated`
(`customer.subscription.deleted`) event that follows reaches the webhook, where the
reconciler changes (retires) the tenant exactly as for a change made in the billing
system's own dashboard. A free tenant, which has no subscription, moves to a paid plan
through a plan claim and a checkout (`billing.upgrades`): the subscription event that
carries the claim back moves it; a move to the free plan cancels the subscription with a
claim that keeps the tenant, on the free plan, when the subscription ends. Without an API
key for the billing system, the answer says where to make the change instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from components.plans import PlanName
from control_plane.billing.subscriptions import Owner, owner_of
from control_plane.billing.upgrades import (
    ClaimOpenError,
    PlanClaimView,
    add_claim,
    drop_claim,
    open_claim,
    record_checkout,
    waiting_message,
)
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import utcnow
from control_plane.registry.repository import Registry
from control_plane.service import TenantService, TenantView

_GONE = (TenantState.DEPROVISIONING.value, TenantState.RETIRED.value)
NO_API_KEY = "no billing API key is configured here (TENANTS_CHECKOUT_STRIPE_API_KEY)"


class BillingUnavailableError(RuntimeError):
    """The billing system refused or could not be reached; the message says why."""


class BillingDecidesError(ValueError):
    """The change is billing's to make and cannot be asked for here; the message says
    where to make it."""


@dataclass(frozen=True)
class StartedCheckout:
    id: str
    url: str


class SubscriptionClient(Protocol):
    """The billing system's subscription API (`web.checkout.Checkout` with Stripe)."""

    def start(
        self,
        *,
        tenant_id: str,
        plan: PlanName,
        region: str,
        user_id: int | None,
        email: str | None,
        upgrade_claim: str | None = None,
        display_name: str | None = None,
    ) -> StartedCheckout:
        """A subscription checkout for the tenant. Raises `BillingUnavailableError`."""

    def change_plan(self, subscription_id: str, plan: PlanName) -> bool:
        """Bill `plan` from now on; False when the subscription bills it already.
        Raises `BillingUnavailableError`."""

    def cancel(self, subscription_id: str) -> None:
        """End the subscription now. Raises `BillingUnavailableError`."""


@dataclass(frozen=True)
class BillingRequest:
    """What was asked of the billing system; the tenant follows its event."""

    tenant_id: str
    subscription_id: str | None
    """None while a free tenant's move to a paid plan waits for its checkout."""
    state: str
    spec_version: int
    message: str
    checkout_url: str | None = None
    """Where the user completes the checkout that starts the subscription, if there is one."""


class SelfServiceBilling:
    """Plan changes and retirements that the billing system decides, asked of it here."""

    def __init__(
        self,
        database: Database,
        tenants: TenantService,
        client: SubscriptionClient | None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._tenants = tenants
        self._client = client
        self._clock = clock

    def subscription_of(self, tenant_id: str) -> Owner | None:
        with self._database.transaction() as session:
            return owner_of(session, tenant_id)

    def request_plan_change(
        self,
        tenant_id: str,
        plan: PlanName,
        *,
        actor: str,
        user_id: int | None = None,
        email: str | None = None,
    ) -> BillingRequest:
        """Ask billing to bill `plan` for the tenant, once its spec would fit that plan. A
        free tenant gets a plan claim and, with an API key, a checkout to complete
        (`checkout_url`); `user_id` and `email` go on that checkout. The free plan ends the
        subscription, and the tenant stays on the free plan rather than being retired."""
        view = self._tenants.show(tenant_id)
        self._tenants.check_plan(tenant_id, plan)
        owner = self.subscription_of(tenant_id)
        if owner is None and view.plan == PlanName.FREE.value and plan is not PlanName.FREE:
            return self._request_upgrade(view, plan, actor=actor, user_id=user_id, email=email)
        if owner is not None and plan is PlanName.FREE:
            return self._request_downgrade(view, owner.subscription_id, actor, user_id)
        self._refuse_while_waiting(tenant_id)
        if owner is None:
            raise BillingDecidesError(
                f"plan: tenant {tenant_id!r} ({view.plan} plan) belongs to no billing "
                "subscription, so there is none to change; a paid plan starts with a checkout "
                "when a tenant is created, or the provider's support links a subscription "
                f"to this tenant (`tenantctl billing link {tenant_id} --subscription ...`)"
            )
        subscription = owner.subscription_id
        if self._client is None:
            raise BillingDecidesError(
                f"plan: billing decides the plan of {tenant_id!r} and {NO_API_KEY}: change "
                f"subscription {subscription} to plan {plan.value!r} in the billing system; "
                "its signed customer.subscription.updated event moves the tenant"
            )
        changed = self._client.change_plan(subscription, plan)
        message = (
            f"subscription {subscription} now bills plan {plan.value}; the tenant moves to it "
            "when the billing system's customer.subscription.updated event arrives"
            if changed
            else f"subscription {subscription} bills plan {plan.value} already; the tenant "
            "follows it once the billing system's event is reconciled"
        )
        return self._record(view.tenant_id, subscription, "plan-change-request", actor, message)

    def _request_upgrade(
        self,
        view: TenantView,
        plan: PlanName,
        *,
        actor: str,
        user_id: int | None,
        email: str | None,
    ) -> BillingRequest:
        tenant_id = view.tenant_id
        claim = self._claim(view, plan, actor, user_id, leaving=None)
        if self._client is None:
            message = (
                f"tenant {tenant_id!r} moves to plan {plan.value} when the billing system's "
                "signed checkout.session.completed or customer.subscription.created event "
                f"for it arrives with metadata upgrade_claim={claim.id} (until "
                f"{claim.expires_at:%Y-%m-%d %H:%M} UTC); {NO_API_KEY}"
            )
            return self._record(tenant_id, None, "plan-upgrade-request", actor, message)
        try:
            started = self._client.start(
                tenant_id=tenant_id,
                plan=plan,
                region=str(view.spec["region"]),
                user_id=user_id,
                email=email,
                upgrade_claim=claim.id,
            )
        except BillingUnavailableError:
            with self._database.transaction() as session:
                drop_claim(session, claim.id)
            raise
        with self._database.transaction() as session:
            record_checkout(session, claim.id, started.id)
        return self._record(
            tenant_id,
            None,
            "plan-upgrade-request",
            actor,
            _upgrade_message(claim, started.id),
            checkout_url=started.url,
        )

    def _request_downgrade(
        self, view: TenantView, subscription: str, actor: str, user_id: int | None
    ) -> BillingRequest:
        tenant_id = view.tenant_id
        claim = self._claim(view, PlanName.FREE, actor, user_id, leaving=subscription)
        if self._client is None:
            message = (
                f"cancel subscription {subscription} in the billing system ({NO_API_KEY}); "
                f"when its signed customer.subscription.deleted event arrives, tenant "
                f"{tenant_id!r} moves to the free plan instead of being retired"
            )
        else:
            try:
                self._client.cancel(subscription)
            except BillingUnavailableError:
                with self._database.transaction() as session:
                    drop_claim(session, claim.id)
                raise
            message = (
                f"subscription {subscription} is cancelled; the tenant moves to the free plan "
                "(not retired) when the billing system's customer.subscription.deleted event "
                "arrives"
            )
        return self._record(tenant_id, subscription, "plan-downgrade-request", actor, message)

    def _refuse_while_waiting(self, tenant_id: str) -> None:
        with self._database.transaction() as session:
            held = open_claim(session, tenant_id, self._clock())
        if held is not None:
            raise BillingDecidesError(waiting_message(held))

    def _claim(
        self,
        view: TenantView,
        plan: PlanName,
        actor: str,
        user_id: int | None,
        *,
        leaving: str | None,
    ) -> PlanClaimView:
        tenant_id = view.tenant_id
        if view.state in _GONE:
            raise BillingDecidesError(f"tenant {tenant_id!r} is {view.state}; it changes no plan")
        with self._database.transaction() as session:
            # The row lock makes two concurrent requests see each other's claim.
            Registry(session).tenant(tenant_id, for_update=True)
            try:
                return add_claim(
                    session,
                    tenant_id,
                    plan,
                    actor=actor,
                    user_id=user_id,
                    now=self._clock(),
                    leaving=leaving,
                )
            except ClaimOpenError as error:
                raise BillingDecidesError(str(error)) from None

    def request_retirement(self, tenant_id: str, *, actor: str) -> BillingRequest:
        """Cancel the subscription of a subscribed tenant; billing's event retires it."""
        view = self._tenants.show(tenant_id)
        owner = self.subscription_of(tenant_id)
        if owner is None:
            raise BillingDecidesError(
                f"tenant {tenant_id!r} belongs to no billing subscription; there is none to cancel"
            )
        self._refuse_while_waiting(tenant_id)
        subscription = owner.subscription_id
        if self._client is None:
            raise BillingDecidesError(
                f"tenant {tenant_id!r} belongs to subscription {subscription} and {NO_API_KEY}: "
                "cancel the subscription in the billing system; its signed "
                "customer.subscription.deleted event retires the tenant (data stores kept)"
            )
        self._client.cancel(subscription)
        message = (
            f"subscription {subscription} is cancelled; the tenant is retired (data stores "
            "kept) when the billing system's customer.subscription.deleted event arrives"
        )
        return self._record(view.tenant_id, subscription, "retire-request", actor, message)

    def _record(
        self,
        tenant_id: str,
        subscription: str | None,
        action: str,
        actor: str,
        message: str,
        *,
        checkout_url: str | None = None,
    ) -> BillingRequest:
        with self._database.transaction() as session:
            registry = Registry(session)
            tenant = registry.tenant(tenant_id)
            registry.record_request(
                tenant_id, action, actor=actor, spec_version=tenant.spec_version, message=message
            )
            return BillingRequest(
                tenant_id, subscription, tenant.state, tenant.spec_version, message, checkout_url
            )


def _upgrade_message(claim: PlanClaimView, checkout_id: str) -> str:
    return (
        f"complete checkout {checkout_id} by {claim.expires_at:%Y-%m-%d %H:%M} UTC; the "
        f"tenant moves to plan {claim.plan.value} when the billing system confirms the "
        "subscription"
    )
