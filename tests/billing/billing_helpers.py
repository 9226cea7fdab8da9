"""Helpers shared by the billing tests: the secrets, a fixed clock, a signing sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from control_plane.billing.samples import encode
from control_plane.billing.signature import signature_header

SECRET = "whsec_current_5f1c2d3e4a"
OLD_SECRET = "whsec_previous_9a8b7c6d5e"
NOW = 1_795_000_000
"""2026-11-18T11:06:40Z: the fixed "now" of every test."""


@dataclass
class Clock:
    """A settable clock (unix seconds)."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta.total_seconds()


@dataclass
class Sender:
    """Signs and posts events to the webhook."""

    client: TestClient
    clock: Clock
    secrets: tuple[str, ...] = (SECRET,)
    sent: list[str] = field(default_factory=list)

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = int(self.clock.now) if timestamp is None else timestamp
        return {"Stripe-Signature": signature_header(body, self.secrets, stamp)}

    def post(self, event: dict[str, Any]) -> Any:
        body = encode(event)
        response = self.client.post("/hooks/billing", content=body, headers=self.headers(body))
        self.sent.append(event["id"])
        return response
