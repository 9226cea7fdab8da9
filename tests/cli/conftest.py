"""Fixtures of the `tenantctl` tests: the real root app, run in-process with a scratch
data directory and stacks directory and nothing of the operator's environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from control_plane.cli import app
from tests.postgres import POSTGRES_URL_VARIABLE

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_tenants_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TENANTS_") and name != POSTGRES_URL_VARIABLE:
            monkeypatch.delenv(name)


@pytest.fixture
def scratch_env(tmp_path: Path) -> dict[str, str]:
    return {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_POLL_INTERVAL_SECONDS": "0.05",
        "TENANTS_BILLING_WEBHOOK_SECRETS": "whsec_test",
        "COLUMNS": "200",
    }


@pytest.fixture
def tenantctl(scratch_env: dict[str, str]) -> Invoke:
    """`tenantctl ARGS...` through the root app (the error boundary included)."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        return runner.invoke(app, list(args), env={**scratch_env, **(env or {})}, input=stdin)

    return invoke
