"""Billing configuration, read from `TENANTS_BILLING_*` environment variables."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from components.plans import PlanName

DEFAULT_PRICE_PLANS: dict[str, PlanName] = {f"{plan.value}-monthly": plan for plan in PlanName}
"""Lookup keys `<plan>-monthly`; production adds its price ids (`price_...`) too."""


class BillingSettings(BaseSettings):
    """Webhook secrets, signature tolerance, the suspension grace period and the price map."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_BILLING_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    webhook_secrets: tuple[str, ...] = Field(min_length=1)
    """Accepted signing secrets (`whsec_...`), newest first; two while rotating a secret.
    Set as a JSON list: `TENANTS_BILLING_WEBHOOK_SECRETS='["whsec_new", "whsec_old"]'`."""
    signature_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    """How far a signature's timestamp may be from now, in either direction."""
    suspension_grace: timedelta = Field(
        default=timedelta(days=3), ge=timedelta(0), le=timedelta(days=90)
    )
    """Time between a failed payment and the suspension it schedules (ISO 8601, e.g. `P3D`)."""
    price_plans: dict[str, PlanName] = Field(default_factory=lambda: dict(DEFAULT_PRICE_PLANS))
    """Billing price id or lookup key -> plan, as a JSON object."""

    @field_validator("webhook_secrets")
    @classmethod
    def _non_blank(cls, secrets: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in secrets):
            raise ValueError("webhook secrets must not be blank")
        return secrets

    @field_validator("price_plans")
    @classmethod
    def _some_prices(cls, prices: dict[str, PlanName]) -> dict[str, PlanName]:
        if not prices:
            raise ValueError("map at least one price id or lookup key to a plan")
        return prices
