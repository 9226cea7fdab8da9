"""`tenantctl serve`: the web app (API and billing hook), the billing reconciler with the
accounts sweep, and optionally workers, in one process."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.server import webhook_server
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.cli.billing import print_step_lines
from control_plane.cli.context import out, registry, user_errors
from control_plane.cli.environment import load_settings
from control_plane.logs import configure_for
from control_plane.ops.metrics import ServerMetrics
from control_plane.queue.worker import Worker, worker_name
from control_plane.runners.factory import make_runner, start_runners
from control_plane.web.app import build_context, create_app
from control_plane.web.checkout import CheckoutSettings

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=0, max=32, help="Worker threads running queued stack jobs.")
    ] = 0,
    reconcile_every: Annotated[
        float, typer.Option(help="Seconds between billing and access passes (0: never).", min=0)
    ] = 2.0,
) -> None:
    """Serve /api/v1, /hooks/billing, /metrics, /healthz and /readyz until interrupted."""
    billing = load_settings(BillingSettings)
    accounts = load_settings(AccountsSettings)
    smtp = load_settings(SmtpSettings)
    checkout = load_settings(CheckoutSettings)
    with registry() as (settings, database), user_errors():
        context = build_context(
            database,
            settings,
            accounts=accounts,
            smtp=smtp,
            checkout=checkout,
            billing=billing,
        )
        store = SqlBillingStore(database)
        metrics = ServerMetrics(database)
        stop = threading.Event()
        loop = None
        if reconcile_every > 0:
            loop = ReconcilerLoop(
                BillingReconciler(
                    database,
                    context.tenants,
                    backoff_seconds=billing.reconcile_backoff_seconds,
                    backoff_max_seconds=billing.reconcile_backoff_max_seconds,
                ),
                interval=reconcile_every,
                max_backoff=billing.reconcile_backoff_max_seconds,
                on_steps=print_step_lines,
                on_pass=metrics.reconciler_pass,
            )

        def sweep() -> None:
            while not stop.wait(reconcile_every):
                try:
                    for tenant_id in context.accounts.sweep():
                        out.print(f"access to retired tenant {tenant_id} revoked")
                except Exception:
                    logger.exception("access sweep failed; retrying next pass")

        if workers:
            plugins = start_runners(settings)
            if plugins:
                out.print(f"provider plugins: {', '.join(plugins)}", highlight=False)
        threads = []
        if reconcile_every > 0:
            threads.append(threading.Thread(target=sweep, name="access-sweep", daemon=True))
        for index in range(workers):
            worker = Worker(database, settings, make_runner(settings), name=worker_name(index))
            threads.append(threading.Thread(target=worker.run, args=(stop,), name=worker.name))
        if loop is not None:
            loop.start()
        for thread in threads:
            thread.start()
        out.print(
            f"portal on http://{host}:{port}/, "
            f"API on http://{host}:{port}/api/v1 (docs at /docs), billing hook at /hooks/billing"
            f", metrics at /metrics, {workers} worker(s)"
        )
        app = create_app(context, billing, store, reconciler=loop, metrics=metrics)
        server = webhook_server(app, billing, host=host, port=port)
        configure_for(settings)  # after uvicorn's own set-up, so its lines use ours too
        try:
            server.run()
        finally:
            stop.set()
            if loop is not None:
                loop.stop()
            for thread in threads:
                thread.join()
            store.close()
