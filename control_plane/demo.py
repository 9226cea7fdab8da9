"""The product end to end, on the embedded defaults: what `make demo` shows a newcomer.

A scratch directory holds a SQLite registry, the stack files and the runner's state. The
billing webhook runs under uvicorn on 127.0.0.1; signed, Stripe-shaped subscription events
are posted to it; the reconciler turns them into tenant requests and a worker runs the
queued stack operations: offline plans under the SDK's mocks when the `pulumi` CLI is
absent, real deployments into a local moto sandbox when it is present.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.invoice_book import InvoiceBook
from control_plane.billing.invoicing import BillingPeriod, LifecycleSegment
from control_plane.billing.metering import MeterReading
from control_plane.billing.reconcile import BillingReconciler, ReconcileStep
from control_plane.billing.render import invoice_html, invoice_table
from control_plane.billing.samples import encode, invoice_event, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import SIGNATURE_HEADER, signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.queue.worker import Worker
from control_plane.registry.database import Database, open_database
from control_plane.registry.runs import RunMode
from control_plane.runners.factory import make_runner
from control_plane.runners.sandbox import Sandbox
from control_plane.service import TenantService
from control_plane.settings import Settings
from planner.stacks import StackFiles

TENANT = "demo-co"
REGION = "eu-central-1"
"""An EU region with Amazon Connect, so the tenant can add a phone line."""
PHONE_LINE = {"country": "DE", "forward_to": "+442079460123", "voicemail": True}
"""The telephony add-on the customer picks: a German number forwarded, with voicemail."""
SUSPENSION_GRACE = timedelta(seconds=2)
"""Shortened from days so the demo shows a suspension falling due."""


@dataclass
class _Services:
    settings: Settings
    database: Database
    service: TenantService
    reconciler: BillingReconciler
    worker: Worker
    webhook_url: str
    secret: str


class Demo:
    """Runs the lifecycle of one tenant from billing events and narrates it."""

    def __init__(self, workdir: Path, console: Console) -> None:
        self.workdir = workdir
        self.console = console
        self._clock = 0
        self._subscription = "sub_" + TENANT.replace("-", "_")

    def run(self) -> None:
        with self._services() as services:
            self._intro(services)
            self._send(services, "customer.subscription.created", PlanName.STARTER)
            self._settle(services, "1. subscription created: the tenant is provisioned")
            self._show_bundle(services)

            self._send(services, "customer.subscription.updated", PlanName.PRO)
            self._settle(services, "2. plan upgraded to pro: the bundle is scaled")
            self._show_bundle(services)

            self._send_invoice_event(services, "invoice.payment_failed")
            self._settle(services, "3. payment failed: nothing yet, the grace period runs")
            steps = self._wait_for_billing(services)
            self._settle(services, "   grace period over: compute scaled to zero, data kept", steps)

            self._send_invoice_event(services, "invoice.paid")
            self._settle(services, "4. invoice paid: the tenant is resumed")

            services.service.update(
                TENANT, {"addons": {"telephony": PHONE_LINE}}, actor="customer:demo-co"
            )
            self._settle(services, "5. the customer adds a phone line (telephony add-on)")
            self._show_phone_lines(services)

            self._show_invoice(services)

            self._send(services, "customer.subscription.deleted", PlanName.PRO, "canceled")
            self._settle(services, "6. subscription cancelled: deprovisioned, data retained")
            self._show_history(services)

    # --- wiring -----------------------------------------------------------------------

    @contextmanager
    def _services(self) -> Iterator[_Services]:
        settings = Settings(
            data_dir=self.workdir,
            stacks_dir=self.workdir / "stacks",
            retry_backoff_seconds=0.5,
            poll_interval_seconds=0.2,
        )
        secret = "whsec_" + secrets.token_hex(16)
        billing = BillingSettings(webhook_secrets=(secret,), suspension_grace=SUSPENSION_GRACE)
        runner = make_runner(settings)
        with ExitStack() as stack:
            if runner.mode is RunMode.DEPLOY:
                # With the pulumi CLI the runner deploys: give it a moto sandbox, never real AWS.
                stack.enter_context(Sandbox(settings.data_dir, port=_free_port()))
            database = open_database(settings.registry_url)
            stack.callback(database.dispose)
            store = SqlBillingStore(database)
            stack.callback(store.close)
            url = stack.enter_context(_serve(create_app(billing, store)))
            service = TenantService(database, settings)
            stacks = StackFiles(settings.stacks_dir)
            yield _Services(
                settings=settings,
                database=database,
                service=service,
                reconciler=BillingReconciler(database, service),
                worker=Worker(database, settings, runner, stacks=stacks),
                webhook_url=f"{url}/hooks/billing",
                secret=secret,
            )

    # --- steps ------------------------------------------------------------------------

    def _intro(self, services: _Services) -> None:
        mode = services.worker.runner.mode
        how = (
            "offline plans under the Pulumi SDK's mocks (no pulumi CLI here): nothing is deployed"
            if mode is RunMode.PLAN
            else "real deployments into a local moto sandbox on 127.0.0.1"
        )
        self.console.print(
            Panel.fit(
                f"Scratch directory: {self.workdir}\n"
                f"Registry: {services.settings.registry_url}\n"
                f"Billing webhook: {services.webhook_url}\n"
                f"Stack operations: {how}",
                title="tenants demo",
            )
        )

    def _post(self, services: _Services, event: dict[str, Any]) -> None:
        body = encode(event)
        now = int(time.time())
        response = httpx.post(
            services.webhook_url,
            content=body,
            headers={
                SIGNATURE_HEADER: signature_header(body, [services.secret], now),
                "Content-Type": "application/json",
            },
            timeout=10.0,
        )
        response.raise_for_status()
        self.console.print(
            f"[cyan]billing[/] {event['type']} ({event['id']}) -> "
            f"HTTP {response.status_code} {response.json()['status']}"
        )

    def _next_created(self) -> int:
        # Billing orders a subscription's events by creation time: keep them strictly rising.
        self._clock = max(self._clock + 1, int(time.time()))
        return self._clock

    def _send(
        self, services: _Services, event_type: str, plan: PlanName, status: str = "active"
    ) -> None:
        event = subscription_event(
            event_type,
            event_id=f"evt_{secrets.token_hex(12)}",
            created=self._next_created(),
            subscription_id=self._subscription,
            tenant_id=TENANT,
            plan=plan,
            region=REGION,
            status=status,
            display_name="Demo Company Ltd",
        )
        self._post(services, event)

    def _send_invoice_event(self, services: _Services, event_type: str) -> None:
        event = invoice_event(
            event_type,
            event_id=f"evt_{secrets.token_hex(12)}",
            created=self._next_created(),
            subscription_id=self._subscription,
            invoice_id=f"in_{secrets.token_hex(8)}",
            plan=PlanName.PRO,
        )
        self._post(services, event)

    def _wait_for_billing(self, services: _Services) -> list[ReconcileStep]:
        """Reconcile until billing asks for something (the grace period ends)."""
        deadline = time.monotonic() + SUSPENSION_GRACE.total_seconds() + 10
        while time.monotonic() < deadline:
            steps = services.reconciler.reconcile()
            if steps:
                return steps
            time.sleep(0.25)
        raise RuntimeError("billing never asked for the suspension after the grace period")

    def _settle(
        self, services: _Services, title: str, steps: list[ReconcileStep] | None = None
    ) -> None:
        """Reconcile billing with the registry, then let the worker run what was queued."""
        self.console.rule(f"[bold]{title}")
        for step in services.reconciler.reconcile() if steps is None else steps:
            result = f"[red]refused: {step.error}[/]" if step.error else "[green]queued[/]"
            self.console.print(f"[cyan]reconcile[/] {step.request} ({step.detail}): {result}")
        ran = services.worker.drain()
        view = services.service.show(TENANT)
        history = services.service.history(TENANT, limit=1)
        last = history[0] if history else None
        self.console.print(
            f"[bold]{TENANT}[/]: state [magenta]{view.display_state}[/], plan {view.plan}, "
            f"spec v{view.spec_version}, {ran} job(s) run"
        )
        if last is not None and ran:
            mode = "plan, nothing deployed" if last.mode == RunMode.PLAN.value else last.mode
            changes = ", ".join(f"{k} {v}" for k, v in last.changes.items() if v) or "none"
            violations = len(last.policy_violations)
            self.console.print(
                f"  last operation: {last.action} ({mode}) {last.status}; changes: {changes}; "
                f"policy pack: {violations} mandatory violation(s)",
                markup=False,
            )
            for item in last.retained:
                self.console.print(f"  retained: {item}")

    def _show_bundle(self, services: _Services) -> None:
        view = services.service.show(TENANT)
        spec = view.spec
        capacity = {k: v for k, v in (spec.get("compute") or {}).items() if "size" in k}
        table = Table(title=f"{TENANT} bundle ({view.display_state})", show_header=False)
        table.add_column("what")
        table.add_column("value")
        table.add_row("network", str(view.cidr))
        table.add_row("capacity overrides", str(capacity or "plan defaults"))
        for key in ("vpc_id", "bucket_names", "autoscaling_group_name", "alarm_topic_arn"):
            if key in view.outputs:
                table.add_row(key, str(view.outputs[key]))
        self.console.print(table)

    def _show_phone_lines(self, services: _Services) -> None:
        view = services.service.show(TENANT)
        numbers = view.outputs.get("phone_numbers") or []
        self.console.print(
            f"phone lines: {', '.join(numbers) or 'none'} -> forwarded to "
            f"{PHONE_LINE['forward_to']} in business hours, voicemail otherwise",
            markup=False,
        )

    def _show_invoice(self, services: _Services) -> None:
        self.console.rule("[bold]first invoice (draft of the current month, as things stand)")
        today = datetime.now(UTC).date()
        period = BillingPeriod.month(today.year, today.month)

        def no_usage(_segment: LifecycleSegment) -> MeterReading:
            # Offline plans create nothing to meter; base prices are prorated by day.
            return MeterReading()

        invoice = InvoiceBook(services.database).preview(TENANT, period, no_usage, today=today)
        self.console.print(invoice_table(invoice))
        html = self.workdir / "invoice.html"
        html.write_text(invoice_html(invoice, customer="Demo Company Ltd"), encoding="utf-8")
        self.console.print(f"HTML invoice: {html}")

    def _show_history(self, services: _Services) -> None:
        table = Table(title=f"{TENANT} history")
        for column in ("when", "action", "actor", "mode", "status", "message"):
            table.add_column(column)
        for op in reversed(services.service.history(TENANT)):
            table.add_row(
                op.started_at.strftime("%H:%M:%S"),
                op.action,
                op.actor,
                op.mode or "-",
                op.status,
                op.error or op.message or "",
            )
        self.console.print(table)


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port for the duration of the block."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="billing-webhook", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the billing webhook did not start on 127.0.0.1")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
