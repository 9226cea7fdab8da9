"""`tenantctl billing`: configuration errors, sample events, one reconciliation pass."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from components.plans import PlanName
from control_plane.billing.events import IntentMapper, LifecycleIntent, parse_event
from control_plane.billing.samples import encode
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.cli import billing as billing_cli
from control_plane.registry.database import open_database
from control_plane.registry.repository import TenantNotFoundError
from control_plane.service import TenantService
from control_plane.settings import Settings
from tests.billing.billing_helpers import NOW, SECRET

RECEIVED = datetime.fromtimestamp(NOW, UTC)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """tenantctl"""

    billing_cli.register(app)
    return app


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name in ("TENANTS_DATABASE_URL", "TENANTS_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENANTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TENANTS_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("TENANTS_RUNNER", "offline")
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", json.dumps([SECRET]))
    yield Settings()


@pytest.mark.parametrize("kind", list(billing_cli.SampleEvent))
def test_sample_events_are_accepted_by_the_mapper(kind: billing_cli.SampleEvent) -> None:
    document = billing_cli.sample_event(
        kind,
        tenant="demo-co",
        plan=PlanName.PRO,
        region="eu-central-1",
        quantity=2,
        display_name="Demo Co",
        created=NOW,
    )
    event = parse_event(encode(document), RECEIVED)
    intent = IntentMapper(BillingSettings(webhook_secrets=(SECRET,))).intent_for(event)
    assert isinstance(intent, LifecycleIntent)
    assert intent.subscription_id == "sub_demo_co"


def test_missing_secrets_are_a_clear_configuration_error(
    environment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANTS_BILLING_WEBHOOK_SECRETS")
    result = CliRunner().invoke(_cli(), ["billing", "send", "created", "--tenant", "acme"])
    assert result.exit_code == 1
    assert "TENANTS_BILLING_WEBHOOK_SECRETS: Field required" in result.output


def test_send_explains_an_unreachable_webhook(environment: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/billing"
    result = CliRunner().invoke(
        _cli(), ["billing", "send", "created", "--tenant", "acme", "--url", url]
    )
    assert result.exit_code == 1
    assert "cannot reach the billing webhook" in result.output


def test_reconcile_requests_the_tenant_of_a_recorded_subscription(environment: Settings) -> None:
    database = open_database(environment.registry_url)
    store = SqlBillingStore(database)
    document = billing_cli.sample_event(
        billing_cli.SampleEvent.CREATED,
        tenant="acme",
        plan=PlanName.STARTER,
        region="eu-west-1",
        quantity=1,
        display_name=None,
        created=NOW,
    )
    event = parse_event(encode(document), RECEIVED)
    store.record(event, IntentMapper(BillingSettings(webhook_secrets=(SECRET,))).intent_for(event))
    store.close()
    database.dispose()
    runner = CliRunner()
    first = runner.invoke(_cli(), ["billing", "reconcile"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "acme" in first.output and "create" in first.output and "queued" in first.output
    second = runner.invoke(_cli(), ["billing", "reconcile"])
    assert "nothing requested" in second.output


_SERVE = """
import sys, typer
from control_plane.cli import billing
app = typer.Typer()
app.callback()(lambda: None)
billing.register(app)
sys.argv = ["tenantctl", "billing", "serve", "--port", sys.argv[1], "--reconcile-every", "0.2"]
app()
"""


def test_serve_takes_a_sent_event_and_requests_the_tenant(
    environment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTS_BILLING_MAX_BODY_BYTES", "8192")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)], env=os.environ.copy())
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        sent = CliRunner().invoke(
            _cli(),
            ["billing", "send", "created", "--tenant", "acme", "--url", f"{base}/hooks/billing"],
        )
        assert sent.exit_code == 0, sent.output
        assert "created event for acme: recorded" in sent.output
        database = open_database(environment.registry_url)
        service = TenantService(database, environment)
        view = None
        for _ in range(100):
            try:
                view = service.show("acme")
                break
            except TenantNotFoundError:
                time.sleep(0.1)
        database.dispose()
        assert view is not None, "the reconciler did not request the tenant within 10 s"
        assert (view.plan, view.state) == ("starter", "pending")
        # The server's limits are the configured ones.
        chunks = (b"x" * 4096 for _ in range(4))
        refused = httpx.post(f"{base}/hooks/billing", content=chunks)
        assert refused.status_code == 413
        assert refused.json()["detail"] == "the body exceeds 8192 bytes"
    finally:
        server.terminate()
        server.wait(timeout=10)
