"""`tenantctl billing`: run the billing webhook, reconcile subscriptions, see how each
subscription stands, link a tenant to a subscription, send sample events.

`serve` runs `POST /hooks/billing` (with `/healthz`, `/readyz` and the OpenAPI docs) over
the registry and, in the same process, the reconciler that turns subscription ledgers
into tenant requests for the worker. `status` shows each subscription's reconciliation
(and its last error); `link` binds a tenant made outside billing to a subscription. `send`
signs and posts a realistic event, for demos and for trying the hook by hand.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.reconcile import BillingReconciler, ReconcileStep, StepOutcome
from control_plane.billing.samples import encode, invoice_event, subscription_event
from control_plane.billing.server import webhook_server
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import SIGNATURE_HEADER, signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.billing.subscriptions import (
    LinkError,
    SubscriptionStatus,
    SubscriptionView,
    link,
    subscriptions,
)
from control_plane.cli.context import (
    ActorOption,
    JsonOption,
    actor_name,
    out,
    print_json,
    registry,
    user_errors,
)
from control_plane.cli.environment import fail, load_settings
from control_plane.ops.metrics import ServerMetrics
from control_plane.service import TenantService

billing_app = typer.Typer(
    name="billing",
    help="The billing webhook: serve it, reconcile and inspect subscriptions, send events.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(billing_app)


_OUTCOME_COLOUR = {
    StepOutcome.QUEUED: "green",
    StepOutcome.WAITING: "yellow",
    StepOutcome.FAILED: "red",
    StepOutcome.REFUSED: "red",
}
_STATUS_COLOUR = {
    SubscriptionStatus.CONVERGED: "green",
    SubscriptionStatus.PENDING: "cyan",
    SubscriptionStatus.WAITING: "yellow",
    SubscriptionStatus.RETRYING: "red",
    SubscriptionStatus.REFUSED: "red",
}


def step_line(step: ReconcileStep) -> str:
    """One line per request, as `serve` logs them."""
    result = step.outcome.value + (f": {step.error}" if step.error else "")
    return f"billing {step.request} {step.tenant_id} ({step.detail}): {result}"


def print_step_lines(steps: list[ReconcileStep]) -> None:
    for step in steps:
        if step.repeated:
            continue  # said on an earlier pass, and nothing has changed since
        out.print(step_line(step), markup=False, highlight=False, soft_wrap=True)


def _print_steps(steps: list[ReconcileStep]) -> None:
    if not steps:
        out.print("every subscription's tenant is as billed; nothing requested")
        return
    table = Table(title="billing requests")
    for column in ("tenant", "subscription", "request", "detail", "result"):
        table.add_column(column)
    for step in steps:
        colour = _OUTCOME_COLOUR[step.outcome]
        result = f"[{colour}]{step.outcome.value}[/]"
        if step.error:
            result += f": {escape(step.error)}"
        table.add_row(step.tenant_id, step.subscription_id, step.request, step.detail, result)
    out.print(table)


@billing_app.command("reconcile")
def reconcile(as_json: JsonOption = False) -> None:
    """Request what each subscription asks of its tenant now (one pass over those due)."""
    billing = load_settings(BillingSettings)
    with registry() as (settings, database), user_errors():
        steps = BillingReconciler(
            database,
            TenantService(database, settings),
            backoff_seconds=billing.reconcile_backoff_seconds,
            backoff_max_seconds=billing.reconcile_backoff_max_seconds,
        ).reconcile()
    if as_json:
        print_json(steps)
    else:
        _print_steps(steps)


def subscription_line(view: SubscriptionView) -> str:
    """A subscription in trouble, in one line (`tenantctl status` lists these)."""
    line = f"{view.subscription_id} ({view.tenant_id or 'no tenant'}): {view.status}"
    if view.status == SubscriptionStatus.RETRYING and view.retry_at is not None:
        line += f" (failure {view.failures}, next try {view.retry_at:%Y-%m-%d %H:%M:%S} UTC)"
    if view.last_error:
        line += f": {view.last_error}"
    return line


@billing_app.command("status")
def status(
    problems: Annotated[
        bool, typer.Option("--problems", help="Only subscriptions retrying or refused.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Each subscription: its tenant, whether it owns it, its reconciliation and last error."""
    with registry() as (_settings, database), user_errors():
        views = subscriptions(database, problems_only=problems)
    if as_json:
        print_json(views)
        return
    if not views:
        out.print("no subscriptions in trouble" if problems else "no subscriptions yet")
        return
    table = Table(title="billing subscriptions")
    for column in ("subscription", "tenant", "customer", "owner", "status", "last error"):
        table.add_column(column)
    for view in views:
        colour = _STATUS_COLOUR.get(SubscriptionStatus(view.status), "cyan")
        shown = view.status
        if view.status == SubscriptionStatus.RETRYING and view.retry_at is not None:
            shown += f" #{view.failures}, next {view.retry_at:%H:%M:%S}"
        table.add_row(
            view.subscription_id,
            view.tenant_id or "-",
            view.customer_id or "-",
            "yes" if view.owns_tenant else "no",
            f"[{colour}]{escape(shown)}[/]",
            escape(view.last_error or ""),
        )
    out.print(table)


@billing_app.command("link")
def link_tenant(
    tenant: Annotated[str, typer.Argument(help="Tenant id, created outside billing.")],
    *,
    subscription: Annotated[
        str, typer.Option("--subscription", help="The subscription (`sub_...`) that names it.")
    ],
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bind a tenant that belongs to no subscription to one; billing then manages it."""
    with registry() as (_settings, database), user_errors():
        try:
            owner = link(database, tenant, subscription, actor=actor_name(actor))
        except LinkError as error:
            raise fail(str(error)) from None
    if as_json:
        print_json(owner)
        return
    out.print(
        f"tenant [bold]{tenant}[/] now belongs to subscription {subscription}"
        + (f" (customer {owner.customer_id})" if owner.customer_id else "")
        + "; the reconciler brings it to what the subscription pays for"
    )


@billing_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8088,
    reconcile_every: Annotated[
        float | None,
        typer.Option(
            help="Seconds between reconciliation passes (0: never); "
            "default TENANTS_BILLING_RECONCILE_INTERVAL_SECONDS.",
            min=0,
        ),
    ] = None,
) -> None:
    """Run the webhook (and the reconciler) until interrupted."""
    billing = load_settings(BillingSettings)
    every = billing.reconcile_interval_seconds if reconcile_every is None else reconcile_every
    with registry() as (settings, database), user_errors():
        store = SqlBillingStore(database)
        reconciler = BillingReconciler(
            database,
            TenantService(database, settings),
            backoff_seconds=billing.reconcile_backoff_seconds,
            backoff_max_seconds=billing.reconcile_backoff_max_seconds,
        )
        metrics = ServerMetrics(database)
        loop = None
        if every > 0:
            loop = ReconcilerLoop(
                reconciler,
                interval=every,
                max_backoff=billing.reconcile_backoff_max_seconds,
                on_steps=print_step_lines,
                on_pass=metrics.reconciler_pass,
            )
            loop.start()
        app = create_app(billing, store, reconciler=loop)
        metrics.mount(app)
        out.print(f"billing webhook on http://{host}:{port}/hooks/billing (docs at /docs)")
        try:
            webhook_server(app, billing, host=host, port=port).run()
        finally:
            if loop is not None:
                loop.stop()
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
