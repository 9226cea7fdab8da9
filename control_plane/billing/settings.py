"""Billing configuration, read from `TENANTS_BILLING_*` environment variables."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from components.plans import PlanName

DEFAULT_PRICE_PLANS: dict[str, PlanName] = {f"{plan.value}-monthly": plan for plan in PlanName}
"""Lookup keys `<plan>-monthly`; production adds its price ids (`price_...`) too."""


class BillingSettings(BaseSettings):
    """Webhook secrets, signature tolerance, the suspension grace period and the price map."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_BILLING_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    webhook_secrets: Annotated[tuple[str, ...], NoDecode] = Field(min_length=1)
    """Accepted signing secrets (`whsec_...`), newest first; two while rotating a secret.
    One secret as is, several comma-separated (`whsec_new,whsec_old`) or as a JSON list."""
    signature_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    """How far a signature's timestamp may be from now, in either direction."""
    suspension_grace: timedelta = Field(
        default=timedelta(days=3), ge=timedelta(0), le=timedelta(days=90)
    )
    """Time between a failed payment and the suspension it schedules (ISO 8601, e.g. `P3D`)."""
    keep_default_prices: bool = True
    """Accept the `<plan>-monthly` lookup keys besides `price_plans` (false: only those)."""
    price_plans: Annotated[dict[str, PlanName], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_PRICE_PLANS)
    )
    """Billing price id or lookup key -> plan: a JSON object or `price_1Pro=pro,...`."""

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _secret_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return _json(value, list, 'a JSON list such as ["whsec_new", "whsec_old"]')
        return tuple(part.strip() for part in value.split(","))

    @field_validator("price_plans", mode="before")
    @classmethod
    def _price_map(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("{"):
            return _json(value, dict, 'a JSON object such as {"price_1Pro": "pro"}')
        prices: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            price, sep, plan = pair.partition("=")
            if not sep or not price.strip():
                raise ValueError(
                    f"{pair!r} is not price=plan; write price_1Pro=pro,price_1Ent=enterprise "
                    'or a JSON object such as {"price_1Pro": "pro"}'
                )
            prices[price.strip()] = plan.strip()
        return prices

    @field_validator("webhook_secrets")
    @classmethod
    def _non_blank(cls, secrets: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in secrets):
            raise ValueError("webhook secrets must not be blank")
        return secrets

    @field_validator("price_plans")
    @classmethod
    def _some_prices(cls, prices: dict[str, PlanName], info: ValidationInfo) -> dict[str, PlanName]:
        if not prices:
            raise ValueError("map at least one price id or lookup key to a plan")
        if info.data.get("keep_default_prices", True):
            return {**DEFAULT_PRICE_PLANS, **prices}
        return prices


def _json(text: str, kind: type, example: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg}); write {example}") from None
    if not isinstance(value, kind):
        raise ValueError(f"write {example}")
    return value
