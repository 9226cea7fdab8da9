"""The self-service API in process (FastAPI's TestClient, SQLite registry): authenticated
reads per second and their p50/p99 latency, and what a sign-in costs (Argon2id).

Each read resolves the bearer token (hash lookup), the caller's memberships and the
tenant's access before answering; `/healthz` (no authentication, no database) is timed
the same way as the floor of the harness itself.

    .venv/bin/python -m benchmarks.api_requests --requests 300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from control_plane.accounts.roles import Scope
from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.registry.database import open_database
from control_plane.settings import Settings
from control_plane.web.app import build_context, create_app
from control_plane.web.checkout import CheckoutSettings

PASSWORD = "benchmark passphrase 2026"


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="Reads per endpoint.")
    parser.add_argument("--sign-ins", type=int, default=5, help="Sign-ins timed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        settings = Settings(data_dir=root, stacks_dir=root / "stacks", runner="offline")
        database = open_database(settings.registry_url)
        billing = BillingSettings(webhook_secrets=("whsec_benchmark",))
        context = build_context(
            database,
            settings,
            accounts=AccountsSettings(address_attempts_per_minute=10_000),
            smtp=SmtpSettings(),
            checkout=CheckoutSettings(),
            billing=billing,
        )
        accounts = context.accounts
        accounts.create_user("bench@example.com", PASSWORD, "Bench", verified=True)
        with TestClient(create_app(context, billing, SqlBillingStore(database))) as client:
            sign_ins = []
            for _ in range(args.sign_ins):
                started = time.perf_counter()
                signed_in = accounts.sign_in("bench@example.com", PASSWORD, address="bench")
                sign_ins.append(time.perf_counter() - started)
            principal = accounts.principal_for_session(signed_in.session_token)
            token, _view = accounts.issue_token(
                principal, name="bench", scope=Scope.WRITE, tenant_id=None,
                lifetime=timedelta(days=1),
            )  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"}
            created = client.post(
                "/api/v1/tenants",
                json={"tenant_id": "bench-co", "region": "eu-west-1"},
                headers=headers,
            )
            assert created.status_code == 202, created.text
            sign_in_ms = statistics.median(sign_ins) * 1000
            print(f"sign-in (Argon2id verify + session row): p50 {sign_in_ms:.0f} ms")
            for path in (
                "/healthz",
                "/api/v1/me",
                "/api/v1/tenants/bench-co",
                "/api/v1/tenants/bench-co/spec",
            ):
                latencies = []
                started = time.perf_counter()
                for _ in range(args.requests):
                    before = time.perf_counter()
                    response = client.get(path, headers=headers)
                    latencies.append(time.perf_counter() - before)
                    assert response.status_code == 200, response.text
                elapsed = time.perf_counter() - started
                print(
                    f"GET {path}: {args.requests / elapsed:.0f} req/s, "
                    f"p50 {_percentile(latencies, 0.5) * 1000:.1f} ms, "
                    f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms"
                )
        database.dispose()


if __name__ == "__main__":
    main()
