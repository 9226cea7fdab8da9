"""Billing configuration, read from `TENANTS_BILLING_*` environment variables."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from components.plans import PlanName

DEFAULT_PRICE_PLANS: dict[str, PlanName] = {f"{plan.value}-monthly": plan for plan in PlanName}
"""Lookup keys `<plan>-monthly`; production adds its price ids (`price_...`) too."""
DEFAULT_RECONCILE_BACKOFF_SECONDS = 5.0
DEFAULT_RECONCILE_BACKOFF_MAX_SECONDS = 300.0
DEFAULT_MAX_BODY_BYTES = 256 * 1024
"""Larger than any subscription or invoice event."""
DEFAULT_MAX_JSON_DEPTH = 32
"""Real billing events nest fewer than 10 levels of arrays and objects."""


class BillingSettings(BaseSettings):
    """Webhook secrets, signature tolerance, the suspension grace period, the price map, the
    reconciler's pace and the webhook server's request limits."""

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

    reconcile_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    """Time between reconciliation passes of `tenantctl billing serve`."""
    reconcile_backoff_seconds: float = Field(
        default=DEFAULT_RECONCILE_BACKOFF_SECONDS, gt=0, le=3600
    )
    """Delay before a failed subscription is tried again; doubles with each failure."""
    reconcile_backoff_max_seconds: float = Field(
        default=DEFAULT_RECONCILE_BACKOFF_MAX_SECONDS, gt=0, le=86400
    )
    """Upper bound of a failed subscription's retry delay."""

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=16 * 1024 * 1024)
    """Largest webhook body read; longer bodies (declared or chunked) get 413 unread."""
    max_json_depth: int = Field(default=DEFAULT_MAX_JSON_DEPTH, ge=4, le=256)
    """Deepest nesting of arrays and objects in an event body; deeper bodies get 400."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Time a connection has to send a complete request head (slow or idle clients are cut)."""
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Time a request has to send its whole body once the head has arrived."""
    keepalive_timeout_seconds: int = Field(default=5, ge=1, le=300)
    """How long an idle keep-alive connection stays open between requests."""
    max_connections: int = Field(default=256, ge=1, le=100_000)
    """Open connections the webhook server holds; more are closed on arrival."""
    max_connections_per_client: int = Field(default=32, ge=1, le=100_000)
    """Open connections one client address may hold; one client cannot take them all."""

    @field_validator("webhook_secrets")
    @classmethod
    def _non_blank(cls, secrets: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in secrets):
            raise ValueError("webhook secrets must not be blank")
        return secrets

    @model_validator(mode="after")
    def _limits_fit(self) -> Self:
        if self.max_connections_per_client > self.max_connections:
            raise ValueError(
                f"max_connections_per_client ({self.max_connections_per_client}) exceeds "
                f"max_connections ({self.max_connections})"
            )
        if self.reconcile_backoff_max_seconds < self.reconcile_backoff_seconds:
            raise ValueError(
                f"reconcile_backoff_max_seconds ({self.reconcile_backoff_max_seconds}) is "
                f"below reconcile_backoff_seconds ({self.reconcile_backoff_seconds})"
            )
        return self

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
