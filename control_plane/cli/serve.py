"""`tenantctl serve`: the web app (API and billing hook), the billing reconciler with the
accounts sweep, and optionally workers, in one process."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer
import uvicorn

from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import SqlBillingStore
from control_plane.cli.context import load_settings, out, registry, user_errors
from control_plane.queue.worker import Worker, worker_name
from control_plane.runners.factory import make_runner
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
    """Serve /api/v1, /hooks/billing, /healthz and /readyz until interrupted."""
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
        reconciler = BillingReconciler(database, context.tenants)
        stop = threading.Event()

        def background() -> None:
            while not stop.wait(reconcile_every):
                try:
                    for step in reconciler.reconcile():
                        result = f"refused: {step.error}" if step.error else "queued"
                        out.print(f"billing {step.request} {step.tenant_id}: {result}")
                    for tenant_id in context.accounts.sweep():
                        out.print(f"access to retired tenant {tenant_id} revoked")
                except Exception:
                    logger.exception("billing or access pass failed; retrying next pass")

        threads = [threading.Thread(target=background, name="reconciler", daemon=True)]
        for index in range(workers):
            worker = Worker(database, settings, make_runner(settings), name=worker_name(index))
            threads.append(threading.Thread(target=worker.run, args=(stop,), name=worker.name))
        for thread in threads if reconcile_every > 0 else threads[1:]:
            thread.start()
        out.print(
            f"API on http://{host}:{port}/api/v1 (docs at /docs), billing hook at /hooks/billing"
            f", {workers} worker(s)"
        )
        try:
            uvicorn.run(
                create_app(context, billing, store), host=host, port=port, log_level="warning"
            )
        finally:
            stop.set()
            for thread in threads[1:]:
                thread.join()
            store.close()
