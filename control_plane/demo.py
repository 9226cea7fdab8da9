"""The product end to end, on the embedded defaults: what `make demo` shows a newcomer.

A scratch directory holds a SQLite registry, the stack files and the runner's state. The
billing webhook runs under uvicorn on 127.0.0.1; signed, Stripe-shaped subscription events
are posted to it; the reconciler turns them into tenant requests and a worker runs the
queued stack operations: offline plans under the SDK's mocks when the `pulumi` CLI is
absent, real deployments into a local moto sandbox when it is present.

The story takes a month: the demo owns the clock of the webhook, the reconciler and the
tenant service, and moves it from day to day, so the real three-day grace period of a
failed payment runs out and the month's invoice prorates a plan change and suspended days.
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from components.plans import PlanName
from components.spec import TenantSpec
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
from control_plane.service import OperationView, TenantService
from control_plane.settings import RunnerMode, Settings
from planner.stacks import StackFiles
from policies.pack import ALL_POLICIES

TENANT = "demo-co"
CUSTOMER = "Demo Company Ltd"
REGION = "eu-central-1"
"""An EU region with Amazon Connect, so the tenant can add a phone line."""
PHONE_LINE = {"country": "DE", "forward_to": "+442079460123", "voicemail": True}
"""The telephony add-on the customer picks: a German number forwarded, with voicemail."""
_PLANNED_CHANGE = re.compile(r"^plan: (create|update|delete) (\S+) (\S+)$")


class DemoClock:
    """The demo's time: 09:00 UTC on the day the story has reached."""

    def __init__(self, start: date) -> None:
        self.now = datetime.combine(start, day_time(9), tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def timestamp(self) -> float:
        return self.now.timestamp()

    def move_to(self, day: date) -> None:
        moved = datetime.combine(day, day_time(9), tzinfo=UTC)
        if moved <= self.now and day != self.now.date():
            raise ValueError(f"the demo clock only moves forward (now {self.now:%Y-%m-%d})")
        self.now = moved


def story_month(today: date) -> BillingPeriod:
    """The last complete month: its invoice can be issued, not only previewed."""
    last_day = today.replace(day=1) - timedelta(days=1)
    return BillingPeriod.month(last_day.year, last_day.month)


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
    """Runs one tenant's month from billing events and narrates it."""

    def __init__(self, workdir: Path, console: Console, today: date | None = None) -> None:
        self.workdir = workdir
        self.console = console
        self.month = story_month(today or datetime.now(UTC).date())
        self.clock = DemoClock(self.month.start)
        self._subscription = "sub_" + TENANT.replace("-", "_")

    def run(self) -> None:
        with self._services() as services:
            self._intro(services)
            self._on_day(1, "subscription created: the tenant is provisioned on starter")
            self._send(services, "customer.subscription.created", PlanName.STARTER)
            self._settle(services)
            self._show_bundle(services)

            self._on_day(11, "plan upgraded to pro: the bundle is scaled")
            before = self._spec(services)
            self._send(services, "customer.subscription.updated", PlanName.PRO)
            self._settle(services)
            self._show_scaling(services, before)

            self._on_day(18, "payment failed: nothing yet, the 3-day grace period runs")
            self._send_invoice_event(services, "invoice.payment_failed")
            self._settle(services)

            self._on_day(21, "grace period over: compute scaled to zero, data kept")
            self._settle(services)

            self._on_day(25, "invoice paid: the tenant is resumed")
            self._send_invoice_event(services, "invoice.paid")
            self._settle(services)

            self._on_day(27, "the customer adds a phone line (telephony add-on)")
            services.service.update(
                TENANT, {"addons": {"telephony": PHONE_LINE}}, actor="customer:demo-co"
            )
            self._settle(services)
            self._show_phone_lines(services)

            self._show_invoice(services)

            self._on_day(
                self.month.days + 2, "subscription cancelled: deprovisioned, data retained"
            )
            self._send(services, "customer.subscription.deleted", PlanName.PRO, "canceled")
            self._settle(services)
            self._show_history(services)

    # --- wiring -----------------------------------------------------------------------

    @contextmanager
    def _services(self) -> Iterator[_Services]:
        # Everything lives in the scratch directory, whatever TENANTS_* says.
        settings = Settings(
            data_dir=self.workdir,
            stacks_dir=self.workdir / "stacks",
            database_url="",
            backend_url="",
            runner=RunnerMode.AUTO,
            retry_backoff_seconds=0.5,
            poll_interval_seconds=0.2,
        )
        secret = "whsec_" + secrets.token_hex(16)
        # The configured grace period (3 days by default) runs on the demo's clock.
        billing = BillingSettings(webhook_secrets=(secret,))
        runner = make_runner(settings)
        with ExitStack() as stack:
            if runner.mode is RunMode.DEPLOY:
                # With the pulumi CLI the runner deploys: give it a moto sandbox, never real AWS.
                stack.enter_context(Sandbox(settings.data_dir, port=_free_port()))
            database = open_database(settings.registry_url)
            stack.callback(database.dispose)
            store = SqlBillingStore(database)
            stack.callback(store.close)
            url = stack.enter_context(
                _serve(create_app(billing, store, clock=self.clock.timestamp))
            )
            service = TenantService(database, settings, clock=self.clock)
            yield _Services(
                settings=settings,
                database=database,
                service=service,
                reconciler=BillingReconciler(database, service, clock=self.clock.timestamp),
                worker=Worker(database, settings, runner, stacks=StackFiles(settings.stacks_dir)),
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
                f"One tenant's month ({self.month.label}) driven by billing events, on a clock\n"
                "the demo moves from day to day.\n"
                f"Scratch directory: {escape(str(self.workdir))}\n"
                f"Billing webhook: {services.webhook_url}\n"
                f"Stack operations: {how}",
                title="tenants demo",
            )
        )

    def _on_day(self, day: int, title: str) -> None:
        when = self.month.start + timedelta(days=day - 1)
        self.clock.move_to(when)
        self.console.rule(f"[bold]{when:%d %b}: {title}")

    def _post(self, services: _Services, event: dict[str, Any]) -> None:
        body = encode(event)
        now = int(self.clock.timestamp())
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
            f"[cyan]billing[/] signed {event['type']} -> webhook "
            f"HTTP {response.status_code} {response.json()['status']}"
        )

    def _send(
        self, services: _Services, event_type: str, plan: PlanName, status: str = "active"
    ) -> None:
        event = subscription_event(
            event_type,
            event_id=f"evt_{secrets.token_hex(12)}",
            created=int(self.clock.timestamp()),
            subscription_id=self._subscription,
            tenant_id=TENANT,
            plan=plan,
            region=REGION,
            status=status,
            display_name=CUSTOMER,
        )
        self._post(services, event)

    def _send_invoice_event(self, services: _Services, event_type: str) -> None:
        event = invoice_event(
            event_type,
            event_id=f"evt_{secrets.token_hex(12)}",
            created=int(self.clock.timestamp()),
            subscription_id=self._subscription,
            invoice_id=f"in_{secrets.token_hex(8)}",
            plan=PlanName.PRO,
        )
        self._post(services, event)

    def _settle(self, services: _Services) -> None:
        """Reconcile billing with the registry, then let the worker run what was queued."""
        steps: list[ReconcileStep] = services.reconciler.reconcile()
        for step in steps:
            result = f"[red]refused: {escape(step.error)}[/]" if step.error else "[green]queued[/]"
            self.console.print(f"[cyan]reconcile[/] {step.request} ({step.detail}): {result}")
        ran = services.worker.drain()
        view = services.service.show(TENANT)
        self.console.print(
            f"[bold]{TENANT}[/]: state [magenta]{view.display_state}[/], plan {view.plan}, "
            f"spec v{view.spec_version}, {ran} job(s) run"
        )
        history = services.service.history(TENANT, limit=1)
        if ran and history:
            self._describe_run(history[0])

    def _describe_run(self, run: OperationView) -> None:
        mode = "plan, nothing deployed" if run.mode == RunMode.PLAN.value else "deployed"
        self.console.print(f"  {run.action} {run.status} ({mode}): {_changes(run.changes)}")
        if run.action == "deprovision":
            if run.retained:
                self.console.print(f"  {len(run.retained)} data stores retained (listed below)")
            return
        violations = len(run.policy_violations)
        self.console.print(
            f"  bundle of {run.resource_count or 0} resources; {len(ALL_POLICIES)} policies ran, "
            f"{violations} mandatory violation(s); the tree: `tenantctl plan`"
        )

    def _spec(self, services: _Services) -> TenantSpec:
        return TenantSpec.model_validate(services.service.show(TENANT).spec)

    def _show_bundle(self, services: _Services) -> None:
        view = services.service.show(TENANT)
        spec = self._spec(services)
        low, desired, high = spec.effective_capacity
        table = Table(title=f"{TENANT} bundle", show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("network", str(view.cidr))
        table.add_row(
            "instances", f"{spec.effective_instance_type}, min/desired/max {low}/{desired}/{high}"
        )
        outputs = view.outputs
        for label, key in (
            ("VPC", "vpc_id"),
            ("autoscaling group", "autoscaling_group_name"),
            ("alarm topic", "alarm_topic_arn"),
        ):
            if key in outputs:
                table.add_row(label, escape(str(outputs[key])))
        buckets = outputs.get("bucket_names")
        if isinstance(buckets, dict):
            table.add_row(
                "buckets", "\n".join(f"{role}: {name}" for role, name in sorted(buckets.items()))
            )
        self.console.print(table)

    def _show_phone_lines(self, services: _Services) -> None:
        numbers = services.service.show(TENANT).outputs.get("phone_numbers") or []
        self.console.print(
            f"phone lines: {', '.join(numbers) or 'none'} -> forwarded to "
            f"{PHONE_LINE['forward_to']} in business hours, voicemail otherwise",
            markup=False,
        )

    def _show_scaling(self, services: _Services, before: TenantSpec) -> None:
        after = self._spec(services)
        table = Table(title="what changed", title_justify="left")
        for column in ("setting", "starter", "pro"):
            table.add_column(column)
        for setting, old, new in _spec_differences(before, after):
            table.add_row(setting, old, new)
        self.console.print(table)
        history = services.service.history(TENANT, limit=1, events=True)
        changed = [m.groups() for line in history[0].events if (m := _PLANNED_CHANGE.match(line))]
        if not changed:
            return
        resources = Table(title="changed resources", title_justify="left")
        for column in ("change", "type", "name"):
            resources.add_column(column, overflow="fold")
        for change, type_token, name in changed:
            resources.add_row(change, _short_type(type_token), name)
        self.console.print(resources)

    def _show_invoice(self, services: _Services) -> None:
        issued_on = self.month.end
        self.clock.move_to(issued_on)
        self.console.rule(f"[bold]{issued_on:%d %b}: the month is over, its invoice is issued")

        def no_usage(_segment: LifecycleSegment) -> MeterReading:
            # Offline plans create nothing to meter; base prices are prorated by day.
            return MeterReading()

        invoice = InvoiceBook(services.database).issue(
            TENANT, self.month, no_usage, issued_on=issued_on
        )
        self.console.print(invoice_table(invoice))
        self.console.print(
            "Base prices prorated by day on each plan; suspended days are not charged. "
            "Usage (instance-hours, storage) is metered from AWS with `tenantctl invoices "
            "--meter`; offline plans create nothing to meter."
        )
        html = self.workdir / "invoice.html"
        html.write_text(invoice_html(invoice, customer=CUSTOMER), encoding="utf-8")
        self.console.print(f"HTML rendering: {escape(str(html))}")

    def _show_history(self, services: _Services) -> None:
        view = services.service.show(TENANT)
        if view.retained:
            kept = Table(title="data stores retained", title_justify="left")
            kept.add_column("kind")
            kept.add_column("name", overflow="fold")
            for item in view.retained:
                kind, _, name = item.partition(" ")
                kept.add_row(kind, name.rsplit(":", 1)[-1])
            self.console.print(kept)
        table = Table(title=f"{TENANT}: operation log (`tenantctl history {TENANT}`)")
        for column in ("#", "action", "by", "mode", "status", "details"):
            table.add_column(column)
        for op in reversed(services.service.history(TENANT)):
            if op.mode is None:
                details = f"spec v{op.spec_version}" if op.spec_version else ""
            else:
                details = op.error or _changes(op.changes)
            table.add_row(
                str(op.id),
                op.action,
                op.actor,
                op.mode or "request",
                op.status,
                escape(details),
            )
        self.console.print(table)


def _changes(changes: dict[str, int]) -> str:
    words = {"create": "created", "update": "updated", "delete": "deleted", "same": "unchanged"}
    shown = [f"{words.get(kind, kind)} {count}" for kind, count in changes.items() if count]
    return ", ".join(shown) or "no changes"


def _short_type(type_token: str) -> str:
    """`aws:s3/bucketPolicy:BucketPolicy` -> `aws s3 BucketPolicy`; providers read as such."""
    package, module, kind = [*type_token.split(":"), "", ""][:3]
    if package == "pulumi" and module == "providers":
        return f"{kind} provider"
    return f"{package} {module.split('/')[0]} {kind}"


def _spec_differences(before: TenantSpec, after: TenantSpec) -> list[tuple[str, str, str]]:
    """The effective settings a plan change moved, as people read them."""

    def settings(spec: TenantSpec) -> dict[str, str]:
        low, desired, high = spec.effective_capacity
        return {
            "instance type": spec.effective_instance_type,
            "capacity min/desired/max": f"{low}/{desired}/{high}",
            "availability zones": str(spec.effective_az_count),
            "NAT": spec.effective_nat.value,
            "storage quota": f"{spec.effective_quota_gb} GB",
        }

    old, new = settings(before), settings(after)
    return [(name, old[name], new[name]) for name in old if old[name] != new[name]]


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
