"""Tenants as their users see them: create, list, read, change the spec, retire,
operations and invoices; suspend and resume for the platform's operators."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status
from fastapi.responses import HTMLResponse

from components.plans import PlanName
from components.spec import SUPPORTED_REGIONS, residency_of
from control_plane.accounts.errors import InvalidRequestError, NotFoundError
from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import Permission, allows
from control_plane.billing.invoicing import Invoice
from control_plane.billing.render import invoice_html
from control_plane.billing.self_service import BillingRequest
from control_plane.inventory import ResourceInventory
from control_plane.registry.repository import TenantNotFoundError
from control_plane.service import Accepted, TenantView
from control_plane.web.checkout import CheckoutError
from control_plane.web.deps import (
    ContextDep,
    PrincipalDep,
    TenantAccess,
    WebContext,
    tenant_access,
)
from control_plane.web.problems import PROBLEM_RESPONSES, ProblemError
from control_plane.web.schemas import (
    NewTenant,
    OperationOut,
    Page,
    PlanChange,
    Reason,
    ResourcesOut,
    SpecOut,
    TenantOut,
    TenantRequestOut,
)

router = APIRouter(prefix="/tenants", tags=["tenants"], responses=PROBLEM_RESPONSES)

MAX_PAGE = 100
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
InvoiceNumber = Annotated[str, Path(pattern=r"^INV-\d{6}-\d{4}$", max_length=16)]


def _access(permission: Permission) -> Any:
    return Depends(tenant_access(permission))


def _tenant_out(view: TenantView, role: str | None) -> TenantOut:
    return TenantOut(
        tenant_id=view.tenant_id,
        display_name=view.display_name,
        plan=view.plan,
        state=view.state,
        display_state=view.display_state,
        region=view.spec.get("region"),
        spec_version=view.spec_version,
        last_error=view.last_error,
        created_at=view.created_at,
        updated_at=view.updated_at,
        outputs=view.outputs,
        retained=view.retained,
        pending_jobs=view.pending_jobs,
        role=role,
    )


def request_out(accepted: Accepted) -> TenantRequestOut:
    return TenantRequestOut(
        tenant_id=accepted.tenant_id,
        status="queued" if accepted.job_id is not None else "unchanged",
        state=accepted.state,
        spec_version=accepted.spec_version,
        job_id=accepted.job_id,
        message=accepted.message,
    )


def _etag(tenant_id: str, version: int) -> str:
    return f'"{tenant_id}-v{version}"'


def _sees_fleet(principal: Principal) -> bool:
    role = principal.platform_role
    return (
        role is not None and principal.token_tenant is None and allows(role, Permission.FLEET_READ)
    )


@router.get("", summary="The caller's tenants, or the whole fleet for platform roles")
def list_tenants(
    principal: PrincipalDep,
    context: ContextDep,
    *,
    limit: Limit = 50,
    offset: Offset = 0,
    state: Annotated[str | None, Query(max_length=32)] = None,
    plan: PlanName | None = None,
    region: Annotated[str | None, Query(max_length=32)] = None,
    failing: Annotated[bool, Query(description="Only failed tenants or with an error")] = False,
) -> Page[TenantOut]:
    if _sees_fleet(principal):
        views = context.tenants.tenants()
        tenants = [_tenant_out(v, principal.role_in(v.tenant_id)) for v in views]
    else:
        tenants = member_tenants(principal, context)
    selected = [
        t
        for t in tenants
        if (state is None or t.state == state)
        and (plan is None or t.plan == plan.value)
        and (region is None or t.region == region)
        and (not failing or t.state == "failed" or t.last_error is not None)
    ]
    page = selected[offset : offset + limit]
    more = offset + limit < len(selected)
    return Page(
        items=page, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


def member_tenants(principal: Principal, context: WebContext) -> list[TenantOut]:
    """The tenants the caller is a member of (claimed ones waiting for billing too)."""
    tenants = []
    for tenant_id, role in sorted(principal.memberships.items()):
        if principal.role_in(tenant_id) is None:
            continue
        try:
            tenants.append(_tenant_out(context.tenants.show(tenant_id), role.value))
        except TenantNotFoundError:
            tenants.append(_claimed_out(context, tenant_id, role.value))
    return tenants


def _claimed_out(context: WebContext, tenant_id: str, role: str | None) -> TenantOut:
    claim = context.accounts.claim(tenant_id)
    if claim is None:
        raise NotFoundError(f"tenant {tenant_id!r} not found")
    return TenantOut(
        tenant_id=tenant_id,
        display_name=claim.display_name,
        plan=claim.plan,
        state="awaiting-billing",
        display_state="awaiting billing",
        region=claim.region,
        spec_version=0,
        last_error=None,
        created_at=claim.created_at,
        updated_at=claim.created_at,
        checkout_url=claim.checkout_url,
        role=role,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Create a tenant: free plans are provisioned at once, paid plans after checkout",
)
def create_tenant(
    body: NewTenant, principal: PrincipalDep, context: ContextDep
) -> TenantRequestOut:
    return request_tenant(context, principal, body)


@router.get("/{tenant_id}", summary="One tenant: state, plan, outputs, pending jobs")
def get_tenant(
    access: Annotated[TenantAccess, _access(Permission.TENANT_READ)], context: ContextDep
) -> TenantOut:
    return tenant_out(context, access)


def tenant_out(context: WebContext, access: TenantAccess) -> TenantOut:
    """The tenant as its user sees it (one waiting for billing too)."""
    if not access.exists:
        return _claimed_out(context, access.tenant_id, access.role.value)
    return _tenant_out(context.tenants.show(access.tenant_id), access.role.value)


def _existing(access: TenantAccess) -> str:
    if not access.exists:
        raise ProblemError(
            409, f"tenant {access.tenant_id!r} is waiting for billing; it has no spec yet"
        )
    return access.tenant_id


@router.get(
    "/{tenant_id}/resources",
    summary="The bundle's resources by component (network, storage, ...) from the last run",
)
def get_resources(
    access: Annotated[TenantAccess, _access(Permission.TENANT_READ)], context: ContextDep
) -> ResourcesOut:
    inventory = (
        context.tenants.resources_by_component(access.tenant_id)
        if access.exists
        else ResourceInventory.empty(access.tenant_id)
    )
    return ResourcesOut.model_validate(
        {**dataclasses.asdict(inventory), "is_plan": inventory.is_plan}
    )


@router.get(
    "/{tenant_id}/spec",
    response_model=SpecOut,
    summary="The desired spec, with its version as ETag",
    responses={304: {"description": "Not modified (If-None-Match)"}},
)
def get_spec(
    access: Annotated[TenantAccess, _access(Permission.TENANT_READ)],
    context: ContextDep,
    response: Response,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    view = context.tenants.show(_existing(access))
    etag = _etag(view.tenant_id, view.spec_version)
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return SpecOut(tenant_id=view.tenant_id, version=view.spec_version, spec=view.spec)


@router.patch(
    "/{tenant_id}/spec",
    summary="Change the spec with a JSON merge patch (RFC 7396); needs If-Match",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        412: {"description": "The spec changed since the ETag"},
        428: {"description": "If-Match missing"},
    },
)
def patch_spec(
    access: Annotated[TenantAccess, _access(Permission.SPEC_UPDATE)],
    context: ContextDep,
    response: Response,
    patch: Annotated[
        dict[str, Any],
        Body(
            media_type="application/merge-patch+json",
            description="Fields to change; null resets to the plan default",
        ),
    ],
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> TenantRequestOut:
    tenant_id = _existing(access)
    if if_match is None:
        raise ProblemError(428, "send If-Match with the spec's ETag (GET the spec first)")
    view = context.tenants.show(tenant_id)
    version = _version_of(if_match, tenant_id)
    if "plan" in patch and patch["plan"] != view.plan:
        raise ProblemError(
            409,
            f'plan: a change of plan goes through billing: POST {{"plan": ...}} to '
            f"/api/v1/tenants/{tenant_id}/plan",
        )
    accepted = context.tenants.update(
        tenant_id,
        patch,
        actor=access.principal.actor,
        reason="spec change via the API",
        expected_version=version,
    )
    response.headers["ETag"] = _etag(tenant_id, accepted.spec_version)
    return request_out(accepted)


@router.post(
    "/{tenant_id}/plan",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Change the plan: the subscription changes in billing and the tenant follows",
)
def change_plan(
    access: Annotated[TenantAccess, _access(Permission.PLAN_CHANGE)],
    context: ContextDep,
    body: PlanChange,
) -> TenantRequestOut:
    """The spec must fit the new plan (checked first); the billing system's
    `customer.subscription.updated` event then moves the tenant to it. A free tenant
    moving to a paid plan gets a checkout (`checkout_url`); the subscription it starts
    moves the tenant."""
    principal = access.principal
    asked = context.billing.request_plan_change(
        _existing(access),
        body.plan,
        actor=principal.actor,
        user_id=principal.user_id,
        email=principal.email,
    )
    return _billing_out(asked)


def _billing_out(asked: BillingRequest) -> TenantRequestOut:
    return TenantRequestOut(
        tenant_id=asked.tenant_id,
        status="awaiting-billing",
        state=asked.state,
        spec_version=asked.spec_version,
        job_id=None,
        message=asked.message,
        checkout_url=asked.checkout_url,
    )


def _version_of(if_match: str, tenant_id: str) -> int:
    tag = if_match.strip()
    prefix = f'"{tenant_id}-v'
    digits = tag[len(prefix) : -1] if tag.startswith(prefix) and tag.endswith('"') else ""
    if not digits.isdigit() or len(digits) > 9:
        raise ProblemError(412, f"If-Match {tag!r} is not an ETag of this tenant's spec")
    return int(digits)


@router.delete(
    "/{tenant_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Retire the tenant (data kept); a subscribed one by cancelling its subscription",
)
def retire_tenant(
    access: Annotated[TenantAccess, _access(Permission.TENANT_RETIRE)], context: ContextDep
) -> TenantRequestOut:
    """Its tokens and memberships end once it is retired."""
    actor = access.principal.actor
    if not access.exists:
        context.accounts.release_claim(access.tenant_id, reason=f"cancelled by {actor}")
        return TenantRequestOut(
            tenant_id=access.tenant_id,
            status="cancelled",
            state="cancelled",
            spec_version=None,
            job_id=None,
            message="the tenant waiting for billing was cancelled",
        )
    if context.billing.subscription_of(access.tenant_id) is not None:
        return _billing_out(context.billing.request_retirement(access.tenant_id, actor=actor))
    view = context.tenants.show(access.tenant_id)
    if view.plan != PlanName.FREE.value:
        raise ProblemError(
            409,
            f"tenant {access.tenant_id!r} is on the paid plan {view.plan!r} but belongs to "
            "no billing subscription; the provider's support retires it",
        )
    accepted = context.tenants.delete(access.tenant_id, actor=actor)
    context.accounts.revoke_tenant_access(access.tenant_id, actor=actor, reason="tenant retired")
    return request_out(accepted)


@router.post(
    "/{tenant_id}/suspend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Suspend (platform), with an optional reason",
)
def suspend_tenant(
    access: Annotated[TenantAccess, _access(Permission.TENANT_SUSPEND)],
    context: ContextDep,
    body: Reason | None = None,
) -> TenantRequestOut:
    reason = f"suspend: {body.reason}" if body else "suspend"
    tenant_id = _existing(access)
    return request_out(
        context.tenants.suspend(tenant_id, actor=access.principal.actor, reason=reason)
    )


@router.post(
    "/{tenant_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Resume (platform), with an optional reason",
)
def resume_tenant(
    access: Annotated[TenantAccess, _access(Permission.TENANT_SUSPEND)],
    context: ContextDep,
    body: Reason | None = None,
) -> TenantRequestOut:
    reason = f"resume: {body.reason}" if body else "resume"
    tenant_id = _existing(access)
    return request_out(
        context.tenants.resume(tenant_id, actor=access.principal.actor, reason=reason)
    )


@router.get("/{tenant_id}/operations", summary="The operation log, newest first")
def list_operations(
    access: Annotated[TenantAccess, _access(Permission.OPERATIONS_READ)],
    context: ContextDep,
    limit: Limit = 20,
    offset: Offset = 0,
    events: Annotated[bool, Query(description="Include the engine's messages")] = False,
) -> Page[OperationOut]:
    if not access.exists:
        return Page(items=[], limit=limit, offset=offset, next_offset=None)
    history = context.tenants.history(access.tenant_id, limit=offset + limit + 1, events=events)
    page = [
        OperationOut.model_validate(dataclasses.asdict(op))
        for op in history[offset : offset + limit]
    ]
    more = len(history) > offset + limit
    return Page(
        items=page, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


@router.get("/{tenant_id}/invoices", summary="Issued invoices, newest period first")
def list_invoices(
    access: Annotated[TenantAccess, _access(Permission.INVOICES_READ)], context: ContextDep
) -> list[Invoice]:
    if not access.exists:
        return []
    return context.invoices.invoices(access.tenant_id)


def find_invoice(context: WebContext, tenant_id: str, number: str) -> Invoice:
    for invoice in context.invoices.invoices(tenant_id):
        if invoice.number == number:
            return invoice
    raise ProblemError(404, f"invoice {number} not found")


@router.get("/{tenant_id}/invoices/{number}", summary="One invoice")
def get_invoice(
    access: Annotated[TenantAccess, _access(Permission.INVOICES_READ)],
    context: ContextDep,
    number: InvoiceNumber,
) -> Invoice:
    return find_invoice(context, _existing(access), number)


@router.get(
    "/{tenant_id}/invoices/{number}/html",
    summary="One invoice as HTML",
    response_class=HTMLResponse,
)
def get_invoice_html(
    access: Annotated[TenantAccess, _access(Permission.INVOICES_READ)],
    context: ContextDep,
    number: InvoiceNumber,
) -> HTMLResponse:
    invoice = find_invoice(context, _existing(access), number)
    return HTMLResponse(invoice_html(invoice))


def request_tenant(context: WebContext, principal: Principal, body: NewTenant) -> TenantRequestOut:
    """Claim the id and create a free tenant at once, or start a paid one's checkout (the
    API's `POST /tenants` and the portal's onboarding)."""
    residency = residency_of(body.region)
    if residency is None:
        raise InvalidRequestError(
            f"region: {body.region!r} is not supported; supported: {', '.join(SUPPORTED_REGIONS)}"
        )
    spec: dict[str, Any] = {
        "tenant_id": body.tenant_id,
        "plan": body.plan.value,
        "region": body.region,
        "residency": residency.value,
        "alarms": {"contacts": body.alarm_contacts or [principal.email]},
    }
    if body.display_name:
        spec["display_name"] = body.display_name
    if body.addons:
        spec["addons"] = {addon.value: {} for addon in body.addons}
    context.tenants.check_new(spec)
    context.accounts.claim_tenant(
        principal,
        tenant_id=body.tenant_id,
        plan=body.plan.value,
        region=body.region,
        display_name=body.display_name,
    )
    if body.plan is PlanName.FREE:
        try:
            accepted = context.tenants.create(spec, actor=principal.actor)
        except BaseException:
            context.accounts.release_claim(body.tenant_id, reason="create refused")
            raise
        return request_out(accepted)
    checkout_url = None
    if context.checkout is not None:
        try:
            started = context.checkout.start(
                tenant_id=body.tenant_id,
                plan=body.plan,
                region=body.region,
                user_id=principal.user_id,
                email=principal.email,
                display_name=body.display_name,
            )
        except CheckoutError as error:
            context.accounts.release_claim(body.tenant_id, reason="checkout refused")
            raise ProblemError(503, str(error)) from None
        context.accounts.record_checkout(body.tenant_id, started.id, started.url)
        checkout_url = started.url
    return TenantRequestOut(
        tenant_id=body.tenant_id,
        status="awaiting-billing",
        state="awaiting-billing",
        spec_version=None,
        job_id=None,
        message=(
            f"plan {body.plan.value} is provisioned once the billing system confirms the "
            "subscription"
            + (": complete the checkout" if checkout_url else " (its signed webhook event)")
        ),
        checkout_url=checkout_url,
    )
