"""Changes a tenant's own users ask for that billing decides: a change of plan and the
retirement of a tenant that belongs to a subscription.

The API does not change such a tenant in the registry: it asks the billing system to
change (or cancel) the subscription, and the signed `customer.subscription.updated`
(`customer.subscription.deleted`) event that follows reaches the webhook, where the
reconciler changes (retires) the tenant exactly as for a change made in the billing
system's own dashboard. Without an API key for the billing system, the answer says where
to make the change instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from components.plans import PlanName
from control_plane.billing.subscriptions import Owner, owner_of
from control_plane.registry.database import Database
from control_plane.registry.repository import Registry
from control_plane.service import TenantService

NO_API_KEY = "no billing API key is configured here (TENANTS_CHECKOUT_STRIPE_API_KEY)"


class BillingUnavailableError(RuntimeError):
    """The billing system refused or could not be reached; the message says why."""


class BillingDecidesError(ValueError):
    """The change is billing's to make and cannot be asked for here; the message says
    where to make it."""


class SubscriptionClient(Protocol):
    """The billing system's subscription API (`web.checkout.Checkout` with Stripe)."""

    def change_plan(self, subscription_id: str, plan: PlanName) -> bool:
        """Bill `plan` from now on; False when the subscription bills it already.
        Raises `BillingUnavailableError`."""

    def cancel(self, subscription_id: str) -> None:
        """End the subscription now. Raises `BillingUnavailableError`."""


@dataclass(frozen=True)
class BillingRequest:
    """What was asked of the billing system; the tenant follows its event."""

    tenant_id: str
    subscription_id: str
    state: str
    spec_version: int
    message: str


class SelfServiceBilling:
    """Plan changes and retirements of subscribed tenants, through the billing system."""

    def __init__(
        self, database: Database, tenants: TenantService, client: SubscriptionClient | None
    ) -> None:
        self._database = database
        self._tenants = tenants
        self._client = client

    def subscription_of(self, tenant_id: str) -> Owner | None:
        with self._database.transaction() as session:
            return owner_of(session, tenant_id)

    def request_plan_change(self, tenant_id: str, plan: PlanName, *, actor: str) -> BillingRequest:
        """Ask billing to bill `plan` for the tenant, once its spec would fit that plan."""
        view = self._tenants.show(tenant_id)
        self._tenants.check_plan(tenant_id, plan)
        owner = self.subscription_of(tenant_id)
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

    def request_retirement(self, tenant_id: str, *, actor: str) -> BillingRequest:
        """Cancel the subscription of a subscribed tenant; billing's event retires it."""
        view = self._tenants.show(tenant_id)
        owner = self.subscription_of(tenant_id)
        if owner is None:
            raise BillingDecidesError(
                f"tenant {tenant_id!r} belongs to no billing subscription; there is none to cancel"
            )
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
        self, tenant_id: str, subscription: str, action: str, actor: str, message: str
    ) -> BillingRequest:
        with self._database.transaction() as session:
            registry = Registry(session)
            tenant = registry.tenant(tenant_id)
            registry.record_request(
                tenant_id, action, actor=actor, spec_version=tenant.spec_version, message=message
            )
            return BillingRequest(
                tenant_id, subscription, tenant.state, tenant.spec_version, message
            )
