"""Operations configuration, read from `TENANTS_EVENTS_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EventSettings(BaseSettings):
    """Where lifecycle events go and how their deliveries are retried."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_EVENTS_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    bus: str = Field(default="", max_length=256)
    """Amazon EventBridge bus that receives every event; none when empty."""
    region: str = "us-east-1"
    """Region of the EventBridge bus."""
    aws_endpoint_url: str = ""
    """An AWS endpoint override (the local moto sandbox); AWS itself when empty."""
    signing_key: SecretStr = SecretStr("")
    """Master key the endpoints' signing secrets derive from; a random key kept in
    `<data_dir>/events-signing.key` (mode 0600) when empty."""
    max_attempts: int = Field(default=8, ge=1, le=50)
    """Delivery attempts per event and target before it is marked failed."""
    backoff_seconds: float = Field(default=10.0, ge=0)
    """Delay before the first retry; doubles with every further attempt."""
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    """Upper bound of the retry delay."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """How long one webhook delivery may take."""
