"""Paid plans in production start a checkout through the `stripe` library (here against
a stand-in of the billing API on 127.0.0.1); the local commands: the first operator,
the mail outbox, and `tenantctl serve` answering on a real port."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from typer.testing import CliRunner

from control_plane.cli import app as tenantctl
from control_plane.web.checkout import CheckoutSettings
from tests.web.web_helpers import PASSWORD, SECRET, SmtpSink, auth, make_world

API = "/api/v1"


class _BillingApi(BaseHTTPRequestHandler):
    """Answers `POST /v1/checkout/sessions` like the billing system, keeping the form."""

    received: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(parse_qs(self.rfile.read(length).decode()))
        body = json.dumps(
            {
                "id": "cs_test_a1",
                "object": "checkout.session",
                "mode": "subscription",
                "url": "https://checkout.stripe.com/c/pay/cs_test_a1",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def billing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BillingApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _BillingApi.received.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_paid_plan_starts_a_checkout_with_the_tenant_in_its_metadata(
    tmp_path: Path, sink: SmtpSink, billing_api: str
) -> None:
    checkout = CheckoutSettings(stripe_api_key="sk_test_local", api_base=billing_api)
    world = make_world(tmp_path, sink, checkout=checkout)
    with world.client:
        world.user("buyer@example.com")
        token = world.token("buyer@example.com")
        created = world.client.post(
            f"{API}/tenants",
            json={
                "tenant_id": "buyer-co",
                "plan": "starter",
                "region": "eu-west-1",
                "display_name": "Buyer & Co",
            },
            headers=auth(token),
        )
        assert created.status_code == 202, created.text
        assert created.json()["checkout_url"] == "https://checkout.stripe.com/c/pay/cs_test_a1"
        form = _BillingApi.received[-1]
        assert form["mode"] == ["subscription"]
        assert form["line_items[0][price]"] == ["price_1StarterMonthly"]
        assert form["metadata[tenant_id]"] == ["buyer-co"]
        assert form["metadata[price]"] == ["price_1StarterMonthly"]
        assert form["subscription_data[metadata][region]"] == ["eu-west-1"]
        # The subscription's events carry the display name back to the tenant they create.
        assert form["subscription_data[metadata][display_name]"] == ["Buyer & Co"]
        assert form["customer_email"] == ["buyer@example.com"]
        shown = world.client.get(f"{API}/tenants/buyer-co", headers=auth(token)).json()
        assert shown["checkout_url"].endswith("cs_test_a1")
        # A plan without a price id cannot be bought: refused, and the id is free again.
        refused = world.client.post(
            f"{API}/tenants",
            json={"tenant_id": "pro-co", "plan": "pro", "region": "eu-west-1"},
            headers=auth(token),
        )
        assert refused.status_code == 503 and "price" in refused.json()["detail"]
        assert world.accounts.claim("pro-co") is None
    world.database.dispose()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "TENANTS_RUNNER": "offline",
        "TENANTS_BILLING_WEBHOOK_SECRETS": json.dumps([SECRET]),
    }


def test_first_operator_and_the_outbox(tmp_path: Path) -> None:
    runner = CliRunner()
    env = _env(tmp_path)
    created = runner.invoke(
        tenantctl,
        ["users", "create", "ops@example.com", "--name", "Ops", "--operator", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert "operator" in created.output
    duplicate = runner.invoke(
        tenantctl,
        ["users", "create", "OPS@example.com", "--name", "Ops", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output
    weak = runner.invoke(
        tenantctl,
        ["users", "create", "x@example.com", "--name", "X", "--password-stdin"],
        input="short\n",
        env=env,
    )
    assert weak.exit_code == 1 and "12 to 128" in weak.output
    assert "Traceback" not in weak.output
    empty = runner.invoke(tenantctl, ["mail", "outbox"], env=env)
    assert "the outbox is empty" in empty.output
    unlocked = runner.invoke(tenantctl, ["users", "unlock", "ops@example.com"], env=env)
    assert unlocked.exit_code == 0 and "may sign in again" in unlocked.output
    unknown = runner.invoke(tenantctl, ["users", "unlock", "nobody@example.com"], env=env)
    assert unknown.exit_code == 1 and "no account for nobody@example.com" in unknown.output
    disabled = runner.invoke(tenantctl, ["users", "disable", "ops@example.com"], env=env)
    assert disabled.exit_code == 0 and "is disabled" in disabled.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_answers_sign_up_with_mail_in_the_outbox(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, **_env(tmp_path), "PYTHONPATH": str(Path.cwd())}
    server = subprocess.Popen(
        [sys.executable, "-m", "control_plane.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    output = server.communicate()[0].decode()
                    raise AssertionError(f"tenantctl serve did not start:\n{output}") from None
                time.sleep(0.2)
        signed_up = httpx.post(
            f"{base}{API}/account/signup",
            json={"email": "web@example.com", "password": PASSWORD, "display_name": "Web"},
        )
        assert signed_up.status_code == 201, signed_up.text
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Tenants API"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # A narrow terminal (a pipe reads as 80 columns) never splits a code or a link.
    narrow = CliRunner().invoke(
        tenantctl, ["mail", "outbox"], env={**_env(tmp_path), "COLUMNS": "40"}
    )
    assert re.search(r"verify\?code=tml_[A-Za-z0-9_-]{40,}$", narrow.output, re.MULTILINE)
    outbox = CliRunner().invoke(tenantctl, ["mail", "outbox", "--clear"], env=_env(tmp_path))
    assert "To: web@example.com" in outbox.output and "tml_" in outbox.output
    again = CliRunner().invoke(tenantctl, ["mail", "outbox"], env=_env(tmp_path))
    assert "the outbox is empty" in again.output
