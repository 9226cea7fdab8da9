"""One tenant's pages: the overview (bundle by component, outputs, health), the operations
with their engine messages, and the invoices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from control_plane.accounts.roles import Permission
from control_plane.billing.invoicing import Invoice
from control_plane.billing.render import invoice_html, money, quantity
from control_plane.service import OperationView
from control_plane.web.deps import ContextDep, TenantAccess, WebContext
from control_plane.web.portal.auth import page_access
from control_plane.web.portal.render import page
from control_plane.web.problems import ProblemError
from control_plane.web.routes.tenants import InvoiceNumber, find_invoice, tenant_out
from control_plane.web.schemas import TenantOut

router = APIRouter(include_in_schema=False)

Reader = Annotated[TenantAccess, Depends(page_access(Permission.TENANT_READ))]
OperationsReader = Annotated[TenantAccess, Depends(page_access(Permission.OPERATIONS_READ))]
InvoicesReader = Annotated[TenantAccess, Depends(page_access(Permission.INVOICES_READ))]

HISTORY = 25
"""Operations shown on a page, newest first."""
RUNNING = ("queued", "running")


@dataclass(frozen=True)
class TenantSummary:
    tenant: TenantOut
    operations: list[OperationView]

    @property
    def busy(self) -> bool:
        """Something is queued or running: the page keeps itself up to date."""
        return bool(self.tenant.pending_jobs) or any(op.status in RUNNING for op in self.operations)


def tenant_summary(
    context: WebContext, access: TenantAccess, *, events: bool = False
) -> TenantSummary:
    tenant = tenant_out(context, access)
    operations = (
        context.tenants.history(access.tenant_id, limit=HISTORY, events=events)
        if access.exists
        else []
    )
    return TenantSummary(tenant, operations)


@router.get("/tenants/{tenant_id}", name="tenant_overview")
def overview(request: Request, access: Reader, context: ContextDep) -> Response:
    summary = tenant_summary(context, access)
    bundle = health = None
    if access.exists:
        bundle = context.tenants.resources_by_component(access.tenant_id)
        health = context.health_check().tenant(access.tenant_id)
    return page(
        request,
        "overview.html",
        principal=access.principal,
        access=access,
        tenant=summary.tenant,
        bundle=bundle,
        health=health,
        section="overview",
    )


@router.get("/tenants/{tenant_id}/operations", name="tenant_operations")
def operations(
    request: Request, access: OperationsReader, context: ContextDep, fragment: bool = False
) -> Response:
    """The history; while something runs the table polls its own fragment (HTMX), or the
    page refreshes itself without JavaScript."""
    summary = tenant_summary(context, access, events=True)
    return page(
        request,
        "_operations.html" if fragment else "operations.html",
        principal=access.principal,
        access=access,
        tenant=summary.tenant,
        operations=summary.operations,
        busy=summary.busy,
        section="operations",
    )


@router.get("/tenants/{tenant_id}/invoices", name="tenant_invoices")
def invoices(request: Request, access: InvoicesReader, context: ContextDep) -> Response:
    issued = context.invoices.invoices(access.tenant_id) if access.exists else []
    return page(
        request,
        "invoices.html",
        principal=access.principal,
        access=access,
        tenant=tenant_out(context, access),
        invoices=issued,
        money=money,
        section="invoices",
    )


def _invoice(context: WebContext, access: TenantAccess, number: str) -> Invoice:
    if not access.exists:
        raise ProblemError(404, f"invoice {number} not found")
    return find_invoice(context, access.tenant_id, number)


@router.get("/tenants/{tenant_id}/invoices/{number}", name="tenant_invoice")
def invoice(
    request: Request, access: InvoicesReader, context: ContextDep, number: InvoiceNumber
) -> Response:
    return page(
        request,
        "invoice.html",
        principal=access.principal,
        access=access,
        tenant=tenant_out(context, access),
        invoice=_invoice(context, access, number),
        money=money,
        quantity=quantity,
        section="invoices",
    )


@router.get("/tenants/{tenant_id}/invoices/{number}/document", name="tenant_invoice_document")
def invoice_document(
    access: InvoicesReader, context: ContextDep, number: InvoiceNumber
) -> HTMLResponse:
    """The billing room's own rendering of the invoice: a standalone, printable page."""
    return HTMLResponse(invoice_html(_invoice(context, access, number)))
