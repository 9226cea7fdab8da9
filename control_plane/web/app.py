"""The one ASGI app: `/api/v1`, `/hooks/billing` (the billing webhook's own route),
`/healthz`, `/readyz` and the portal's pages, with request limits for every route and
problem details for every machine route (pages answer with error pages)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from control_plane.accounts.mail import make_mailer
from control_plane.accounts.service import AccountService
from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.billing.app import create_app as create_billing_app
from control_plane.billing.invoice_book import InvoiceBook
from control_plane.billing.loop import ReconcilerLoop
from control_plane.billing.self_service import SelfServiceBilling
from control_plane.billing.settings import BillingSettings
from control_plane.billing.store import BillingStore
from control_plane.ops.metrics import ServerMetrics
from control_plane.registry.database import Database
from control_plane.service import TenantService
from control_plane.settings import Settings
from control_plane.web import problems
from control_plane.web.checkout import Checkout, CheckoutSettings
from control_plane.web.deps import WebContext
from control_plane.web.limits import LimitsMiddleware, RequestLimits
from control_plane.web.log_context import RequestLogContext
from control_plane.web.portal import pages as portal
from control_plane.web.routes import (
    account,
    cases,
    console,
    health,
    members,
    platform,
    tenants,
    tokens,
)

API_PREFIX = "/api/v1"
BILLING_HOOK = "/hooks/billing"


def create_app(
    context: WebContext,
    billing: BillingSettings,
    billing_store: BillingStore,
    *,
    limits: RequestLimits | None = None,
    clock: Callable[[], float] = time.time,
    reconciler: ReconcilerLoop | None = None,
    metrics: ServerMetrics | None = None,
) -> FastAPI:
    """The one web app. With `reconciler`, `/readyz` also requires its thread to run; with
    `metrics`, `/metrics` is served and every request counted."""
    app = FastAPI(
        title="Tenants API",
        summary="Self-service for tenants: accounts, tokens, specs, operations, invoices.",
        version="1",
    )
    app.state.web = context
    api = APIRouter(prefix=API_PREFIX)
    for module in (account, tokens, tenants, members, platform, cases, console):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    # The webhook's route as the billing room defines it: one implementation, one path.
    hook = create_billing_app(billing, billing_store, clock=clock)
    app.router.routes.extend(
        r for r in hook.routes if isinstance(r, APIRoute) and r.path == BILLING_HOOK
    )
    app.state.billing_store = billing_store
    app.state.reconciler = reconciler
    if metrics is not None:
        metrics.mount(app)
    problems.install(app)
    problems.document_problems(app, (API_PREFIX, "/healthz", "/readyz"))
    portal.install(app)
    app.add_middleware(LimitsMiddleware, limits=limits or RequestLimits())
    app.add_middleware(RequestLogContext)
    return app


def build_context(
    database: Database,
    settings: Settings,
    *,
    accounts: AccountsSettings,
    smtp: SmtpSettings,
    checkout: CheckoutSettings,
    billing: BillingSettings,
) -> WebContext:
    """The services the routes use, over one registry database."""
    tenants = TenantService(database, settings)
    client = (
        Checkout(checkout, billing.price_plans)
        if checkout.stripe_api_key.get_secret_value()
        else None
    )
    return WebContext(
        database=database,
        accounts=AccountService(database, accounts, make_mailer(smtp)),
        tenants=tenants,
        invoices=InvoiceBook(database),
        checkout=client,
        billing=SelfServiceBilling(database, tenants, client),
    )
