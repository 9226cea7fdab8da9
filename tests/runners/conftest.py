"""Fixtures of the runner tests: real tenant specs and an isolated data directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.spec import TenantSpec

SpecFactory = Callable[..., TenantSpec]


def _make_spec(**overrides: Any) -> TenantSpec:
    """A valid starter-plan spec in the EU; `overrides` replace top-level fields."""
    raw: dict[str, Any] = {
        "tenant_id": "acme",
        "display_name": "Acme Corp",
        "plan": "starter",
        "region": "eu-west-1",
        "residency": "eu",
        "network": {"cidr": "10.64.0.0/20"},
        "storage": {"buckets": [{"role": "data"}], "table": {"hash_key": "pk"}},
        "alarms": {"contacts": ["ops@acme.example"]},
    }
    raw.update(overrides)
    return TenantSpec.model_validate(raw)


@pytest.fixture
def make_spec() -> SpecFactory:
    return _make_spec


@pytest.fixture
def spec() -> TenantSpec:
    return _make_spec()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class EventLog(list[str]):
    """An event sink that keeps every line."""

    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def events() -> EventLog:
    return EventLog()
