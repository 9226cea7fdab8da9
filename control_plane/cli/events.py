"""`tenantctl events`: lifecycle events out, their endpoints and their delivery.

Every lifecycle change (created, provisioned, updated, suspended, resumed, failed,
retired) is recorded with the change itself; `dispatch` delivers them to the EventBridge
bus (`TENANTS_EVENTS_BUS`) and to the registered webhook endpoints, signed and retried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from control_plane.cli.context import JsonOption, out, print_json, registry
from control_plane.cli.environment import fail, load_settings
from control_plane.ops.events import (
    DispatchReport,
    EventBook,
    EventDispatcher,
    EventError,
    signing_key,
)
from control_plane.ops.settings import EventSettings
from control_plane.registry.database import Database

events_app = typer.Typer(
    name="events",
    help="Lifecycle events out: list them, deliver them, manage webhook endpoints.",
    no_args_is_help=True,
)
endpoints_app = typer.Typer(
    name="endpoints",
    help="Webhook endpoints that receive signed lifecycle events.",
    no_args_is_help=True,
)
events_app.add_typer(endpoints_app)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app)


@contextmanager
def _events() -> Iterator[tuple[EventSettings, Database, bytes]]:
    event_settings = load_settings(EventSettings)
    with registry() as (settings, database):
        try:
            yield event_settings, database, signing_key(event_settings, settings.data_dir)
        except EventError as error:
            raise fail(str(error)) from None


@events_app.command("list")
def list_events(
    tenant: Annotated[str | None, typer.Argument(help="Only this tenant's events.")] = None,
    *,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Recorded lifecycle events, newest first, with where each was delivered."""
    with _events() as (_settings, database, key):
        views = EventBook(database, key).events(tenant, limit=limit)
    if as_json:
        print_json(views)
        return
    if not views:
        out.print("no lifecycle events recorded")
        return
    table = Table(title="lifecycle events")
    for column in ("event", "when (UTC)", "tenant", "type", "state", "deliveries"):
        table.add_column(column)
    for view in views:
        deliveries = "\n".join(
            f"{target}: {status.split(' (', 1)[0]}" for target, status in view.deliveries.items()
        )
        table.add_row(
            view.id,
            view.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
            view.tenant_id,
            view.type,
            f"{view.previous_state or '-'} -> {view.state}",
            escape(deliveries) or "-",
        )
    out.print(table)


@events_app.command("dispatch")
def dispatch(
    *,
    drain: Annotated[
        bool, typer.Option("--drain", help="Deliver what is due now, then exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between passes when not draining.")
    ] = 2.0,
) -> None:
    """Deliver recorded events to the bus and the endpoints (runs until Ctrl-C)."""
    with _events() as (event_settings, database, key):
        dispatcher = EventDispatcher(database, event_settings, key)
        if drain:
            _print_report(dispatcher.drain())
            return
        out.print(f"delivering lifecycle events every {interval:g} s; Ctrl-C stops")
        try:
            while True:
                report = dispatcher.run_once()
                if report.delivered or report.retrying or report.failed:
                    _print_report(report)
                time.sleep(interval)
        except KeyboardInterrupt:
            out.print("stopped")


def _print_report(report: DispatchReport) -> None:
    out.print(
        f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}",
        highlight=False,
    )
    for error in report.errors:
        out.print(f"  [yellow]{escape(error)}[/]")


@endpoints_app.command("add")
def add_endpoint(
    url: Annotated[str, typer.Argument(help="https URL that receives the events.")],
    *,
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's events (default: every tenant's).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register an endpoint; prints its signing secret once."""
    with _events() as (_settings, database, key):
        endpoint = EventBook(database, key).add_endpoint(
            url, tenant_id=tenant, description=description
        )
    if as_json:
        print_json(endpoint)
        return
    scope = f"tenant {endpoint.tenant_id}" if endpoint.tenant_id else "every tenant"
    out.print(f"endpoint {endpoint.id}: {escape(endpoint.url)} ({scope})", highlight=False)
    out.print(f"signing secret (shown once): {endpoint.secret}", highlight=False, soft_wrap=True)
    out.print(
        "receivers verify the `Tenants-Signature` header (t=<unix time>,v1=<HMAC-SHA256 of "
        "'<t>.<body>'>) with it; `tenantctl events list --json` shows delivery errors",
        highlight=False,
    )


@endpoints_app.command("list")
def list_endpoints(*, as_json: JsonOption = False) -> None:
    """Registered endpoints with their delivery counts."""
    with _events() as (_settings, database, key):
        views = EventBook(database, key).endpoints()
    if as_json:
        print_json(views)
        return
    if not views:
        out.print("no event endpoints; add one with `tenantctl events endpoints add URL`")
        return
    table = Table(title="event endpoints")
    for column in ("id", "url", "tenant", "delivered", "pending", "failed"):
        table.add_column(column)
    for view in views:
        table.add_row(
            str(view.id),
            escape(view.url),
            view.tenant_id or "(all)",
            str(view.delivered),
            str(view.pending),
            str(view.failed),
        )
    out.print(table)


@endpoints_app.command("remove")
def remove_endpoint(
    endpoint_id: Annotated[int, typer.Argument(help="Endpoint id (see `endpoints list`).")],
) -> None:
    """Stop sending events to an endpoint; its delivery log is kept."""
    with _events() as (_settings, database, key):
        EventBook(database, key).remove_endpoint(endpoint_id)
    out.print(f"endpoint {endpoint_id} removed")
