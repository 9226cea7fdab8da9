"""Paid plans start with the billing system's checkout (Stripe Checkout, `stripe` library);
a subscribed tenant's plan changes and its retirement are changes to its subscription.

The session carries the tenant facts the billing webhook reads (`tenant_id`, `region`,
`price`) and the user who asked, both on the session and on the subscription it creates,
so `checkout.session.completed` or `customer.subscription.created` provisions the tenant
(or, with an `upgrade_claim`, moves an existing free tenant to the paid plan).
A price change or a cancellation is answered by `customer.subscription.updated` or
`...deleted`, which the reconciler applies to the tenant.
"""

from __future__ import annotations

import stripe
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from stripe._base_address import BaseAddresses
from stripe.params.checkout import SessionCreateParams

from components.plans import PlanName
from control_plane.billing.self_service import BillingUnavailableError, StartedCheckout


class CheckoutSettings(BaseSettings):
    """The billing system's API; with no key, paid plans wait for a billing event alone."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_CHECKOUT_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    stripe_api_key: SecretStr = SecretStr("")
    """A secret or restricted key (`sk_...`/`rk_...`) allowed to create checkout sessions."""
    success_url: str = "http://127.0.0.1:8080/checkout/done"
    cancel_url: str = "http://127.0.0.1:8080/checkout/cancelled"
    api_base: str = ""
    """Another API address (a local stand-in); the billing system's own when empty."""


class CheckoutError(BillingUnavailableError):
    """The billing system refused or could not be asked; the message says why."""


class Checkout:
    """Starts subscription checkouts, changes a subscription's plan and cancels it, for
    plans that have a configured price id."""

    def __init__(self, settings: CheckoutSettings, prices: dict[str, PlanName]) -> None:
        base: BaseAddresses = {"api": settings.api_base} if settings.api_base else {}
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(), base_addresses=base
        )
        self._settings = settings
        # Checkout needs price ids (`price_...`); lookup keys are only for reading events.
        self._prices = {
            plan: price for price, plan in sorted(prices.items()) if price.startswith("price_")
        }

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
        """A subscription checkout; `upgrade_claim` marks the move of an existing tenant to
        a paid plan (`billing.upgrades`), which its events must carry back, as they carry
        the display name the tenant was given at onboarding."""
        price = self._price(plan)
        metadata = {"tenant_id": tenant_id, "region": region}
        if display_name:
            metadata["display_name"] = display_name
        if user_id is not None:
            metadata["user_id"] = str(user_id)
        if upgrade_claim is not None:
            metadata["upgrade_claim"] = upgrade_claim
        params: SessionCreateParams = {
            "mode": "subscription",
            "line_items": [{"price": price, "quantity": 1}],
            "client_reference_id": tenant_id,
            "success_url": self._settings.success_url,
            "cancel_url": self._settings.cancel_url,
            "metadata": {**metadata, "price": price},
            "subscription_data": {"metadata": metadata},
        }
        if email is not None:
            params["customer_email"] = email
        try:
            session = self._client.v1.checkout.sessions.create(params=params)
        except stripe.StripeError as error:
            raise CheckoutError(f"the billing system refused the checkout: {error}") from None
        if not session.url:
            raise CheckoutError(f"checkout session {session.id} has no URL")
        return StartedCheckout(session.id, session.url)

    def change_plan(self, subscription_id: str, plan: PlanName) -> bool:
        """Bill `plan` on the subscription's one item from now on (prorated); False when it
        does already."""
        price = self._price(plan)
        try:
            subscription = self._client.v1.subscriptions.retrieve(subscription_id)
            items = subscription["items"]["data"]
            if len(items) != 1:
                raise CheckoutError(
                    f"subscription {subscription_id} has {len(items)} items, not one; "
                    "change its plan in the billing system"
                )
            if items[0]["price"]["id"] == price:
                return False
            self._client.v1.subscriptions.update(
                subscription_id,
                params={
                    "items": [{"id": items[0]["id"], "price": price}],
                    "proration_behavior": "create_prorations",
                },
            )
        except stripe.StripeError as error:
            raise CheckoutError(f"the billing system refused the plan change: {error}") from None
        return True

    def cancel(self, subscription_id: str) -> None:
        """End the subscription now (the tenant is retired by the event that follows)."""
        try:
            self._client.v1.subscriptions.cancel(subscription_id)
        except stripe.StripeError as error:
            raise CheckoutError(f"the billing system refused the cancellation: {error}") from None

    def _price(self, plan: PlanName) -> str:
        price = self._prices.get(plan)
        if price is None:
            raise CheckoutError(
                f"plan {plan.value!r} has no price id in TENANTS_BILLING_PRICE_PLANS; "
                "map a `price_...` id to it"
            )
        return price
