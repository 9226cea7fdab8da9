"""`tenantctl billing`: run the billing webhook, reconcile subscriptions, send sample events.

`serve` runs `POST /hooks/billing` (with `/healthz`, `/readyz` and the OpenAPI docs) over
the registry and, in the same process, the reconciler that turns subscription ledgers
into tenant requests for the worker. `send` signs and posts a realistic event, for demos
and for trying the hook by hand.
"""

from __future__ import annotations

import secrets
import threading
import time
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.table import Table

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.reconcile import BillingReconciler, ReconcileStep
from control_plane.billing.samples import encode, invoice_event, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import SIGNATURE_HEADER, signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.cli.context import (
    JsonOption,
    fail,
    load_settings,
    out,
    print_json,
    registry,
    user_errors,
)
from control_plane.ops.metrics import ServerMetrics
from control_plane.service import TenantService

billing_app = typer.Typer(
    name="billing",
    help="The billing webhook: serve it, reconcile subscriptions, send sample events.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(billing_app)


def _print_steps(steps: list[ReconcileStep]) -> None:
    if not steps:
        out.print("every subscription's tenant is as billed; nothing requested")
        return
    table = Table(title="billing requests")
    for column in ("tenant", "subscription", "request", "detail", "result"):
        table.add_column(column)
    for step in steps:
        result = f"[red]{step.error}[/]" if step.error else "[green]queued[/]"
        table.add_row(step.tenant_id, step.subscription_id, step.request, step.detail, result)
    out.print(table)


@billing_app.command("reconcile")
def reconcile(as_json: JsonOption = False) -> None:
    """Request what each subscription asks of its tenant now (one pass)."""
    with registry() as (settings, database), user_errors():
        steps = BillingReconciler(database, TenantService(database, settings)).reconcile()
    if as_json:
        print_json(steps)
    else:
        _print_steps(steps)


@billing_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8088,
    reconcile_every: Annotated[
        float, typer.Option(help="Seconds between reconciliation passes (0: never).", min=0)
    ] = 2.0,
) -> None:
    """Run the webhook (and the reconciler) until interrupted."""
    billing = load_settings(BillingSettings)
    with registry() as (settings, database), user_errors():
        store = SqlBillingStore(database)
        stop = threading.Event()
        reconciler = BillingReconciler(database, TenantService(database, settings))
        metrics = ServerMetrics(database)

        def reconcile_loop() -> None:
            while not stop.wait(reconcile_every):
                steps = reconciler.reconcile()
                for step in steps:
                    result = f"refused: {step.error}" if step.error else "queued"
                    out.print(f"billing {step.request} {step.tenant_id} ({step.detail}): {result}")
                metrics.reconciler_pass(errors=sum(1 for step in steps if step.error))

        loop = threading.Thread(target=reconcile_loop, name="billing-reconciler", daemon=True)
        if reconcile_every > 0:
            loop.start()
        out.print(f"billing webhook on http://{host}:{port}/hooks/billing (docs at /docs)")
        app = create_app(billing, store)
        metrics.mount(app)
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            stop.set()
            store.close()


class SampleEvent(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    PAYMENT_FAILED = "payment-failed"
    PAID = "paid"
    DELETED = "deleted"


def sample_event(
    kind: SampleEvent,
    *,
    tenant: str,
    plan: PlanName,
    region: str,
    quantity: int,
    display_name: str | None,
    created: int,
) -> dict[str, Any]:
    """A realistic event of `kind` for the tenant's subscription (`sub_<tenant>`)."""
    subscription_id = "sub_" + tenant.replace("-", "_")
    event_id = f"evt_{secrets.token_hex(12)}"
    if kind in (SampleEvent.PAYMENT_FAILED, SampleEvent.PAID):
        return invoice_event(
            "invoice.paid" if kind is SampleEvent.PAID else "invoice.payment_failed",
            event_id=event_id,
            created=created,
            subscription_id=subscription_id,
            invoice_id=f"in_{secrets.token_hex(8)}",
            plan=plan,
        )
    event_type = {
        SampleEvent.CREATED: "customer.subscription.created",
        SampleEvent.UPDATED: "customer.subscription.updated",
        SampleEvent.DELETED: "customer.subscription.deleted",
    }[kind]
    return subscription_event(
        event_type,
        event_id=event_id,
        created=created,
        subscription_id=subscription_id,
        tenant_id=tenant,
        plan=plan,
        region=region,
        status="canceled" if kind is SampleEvent.DELETED else "active",
        quantity=quantity,
        display_name=display_name,
    )


@billing_app.command("send")
def send(
    kind: Annotated[SampleEvent, typer.Argument(help="Which subscription event to send.")],
    *,
    tenant: Annotated[str, typer.Option(help="Tenant id (subscription metadata).")],
    plan: Annotated[PlanName, typer.Option(help="Plan bought.")] = PlanName.STARTER,
    region: Annotated[str, typer.Option(help="AWS region of the tenant.")] = "eu-west-1",
    quantity: Annotated[int, typer.Option(help="Workers paid for.", min=1)] = 1,
    display_name: Annotated[str | None, typer.Option(help="Customer name.")] = None,
    url: Annotated[
        str, typer.Option(help="The webhook's URL.")
    ] = "http://127.0.0.1:8088/hooks/billing",
) -> None:
    """Sign a realistic event with the first configured secret and post it to the hook."""
    billing = load_settings(BillingSettings)
    now = int(time.time())
    body = encode(
        sample_event(
            kind,
            tenant=tenant,
            plan=plan,
            region=region,
            quantity=quantity,
            display_name=display_name,
            created=now,
        )
    )
    headers = {
        SIGNATURE_HEADER: signature_header(body, billing.webhook_secrets[:1], now),
        "Content-Type": "application/json",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10.0)
    except httpx.TransportError as error:
        raise fail(f"cannot reach the billing webhook at {url}: {error}") from None
    if response.status_code != 200:
        raise fail(f"the webhook refused the event ({response.status_code}): {response.text}")
    out.print(f"{kind.value} event for {tenant}: {response.json()['status']}")
