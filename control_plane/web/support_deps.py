"""What the support and operator routes and pages share: their services over the app's
registry, and a tenant's diagnosis for the case and tenant pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from control_plane.accounts.principal import Principal
from control_plane.accounts.roles import PlatformRole, Role
from control_plane.ops.console import OperatorConsole
from control_plane.ops.diagnose import Diagnosis, Diagnostician
from control_plane.registry.repository import TenantNotFoundError
from control_plane.registry.support_models import CaseSide
from control_plane.support.cases import Author, SupportService
from control_plane.web.deps import ContextDep, WebContext


def _support(context: ContextDep) -> SupportService:
    return SupportService(context.database)


def _console(context: ContextDep) -> OperatorConsole:
    return OperatorConsole(context.database)


SupportDep = Annotated[SupportService, Depends(_support)]
ConsoleDep = Annotated[OperatorConsole, Depends(_console)]


def author(principal: Principal, role: Role) -> Author:
    """The case author for a caller acting with `role`: staff write on support's side."""
    side = CaseSide.SUPPORT if isinstance(role, PlatformRole) else CaseSide.CUSTOMER
    return Author(actor=principal.actor, user_id=principal.user_id, side=side)


def diagnose(context: WebContext, tenant_id: str) -> Diagnosis | None:
    """The support report of a registered tenant (None while it waits for billing).
    Alarm states are read where `tenantctl diagnose` reads them, or said to be unread."""
    try:
        return Diagnostician(context.database, context.health_check()).diagnose(tenant_id)
    except TenantNotFoundError:
        return None
