"""The cell use cases `tenantctl cells` calls: add, refresh, drain, vend a silo account, list.

Quotas are read from the cell's account (through its role) before the registry transaction,
so a slow or failing AWS call never holds a lock and a failed read registers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from components.spec import (
    SUPPORTED_REGIONS,
    CellPlacement,
    TenantId,
    format_validation_error,
    silo_cell_name,
)
from control_plane.cells.accounts import SiloRequest, vend_account
from control_plane.cells.capacity import QuotaUse, cell_use
from control_plane.cells.management import write_management_stack
from control_plane.cells.placement import placed_in
from control_plane.cells.quotas import (
    GLOBAL_QUOTA_REGION,
    CellAccess,
    SessionFactory,
    assume_cell_role,
    read_quotas,
)
from control_plane.registry.cell_models import CellRecord, TenantPlacement
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant, utcnow
from control_plane.settings import Settings
from planner.stacks import StackFiles

OrganizationsFactory = Callable[[], Any]
"""A boto3 `organizations` client with the management account's credentials."""

MAX_REGIONS = 16


class CellError(ValueError):
    """A cell request that cannot be done as asked; the message says why and what is allowed."""


@dataclass(frozen=True)
class CellView:
    """A cell as operators see it: where it is, who lives there and how full it is."""

    name: str
    account_id: str
    role_arn: str
    external_id_set: bool
    regions: list[str]
    headroom_percent: int
    drained: bool
    silo_tenant: str | None
    retained: bool
    """A silo account whose tenant is retired: kept, never closed automatically."""
    tenants: list[str]
    """Live (not retired) tenants placed here."""
    quotas_read_at: datetime
    use: list[QuotaUse] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "silo" if self.silo_tenant else "pool"

    @property
    def full(self) -> list[QuotaUse]:
        """Quotas with no unit left."""
        return [u for u in self.use if u.free <= 0]


def _organizations() -> Any:
    return boto3.client("organizations", region_name=GLOBAL_QUOTA_REGION)


class CellService:
    """Registers cells with their measured quotas and reports their use."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        session_for: SessionFactory = assume_cell_role,
        organizations: OrganizationsFactory = _organizations,
    ) -> None:
        self.database = database
        self.settings = settings
        self._session_for = session_for
        self._organizations = organizations

    def add(
        self,
        name: str,
        *,
        account_id: str,
        role_arn: str,
        regions: Sequence[str],
        external_id: str | None = None,
        headroom_percent: int | None = None,
    ) -> CellView:
        """Register a pooled cell after reading its quotas in every region it serves."""
        access = _access(name, account_id, role_arn, external_id)
        served = _regions(regions)
        headroom = self._headroom(headroom_percent)
        with self.database.transaction() as session:
            _check_new(session, name, account_id)
        quotas = read_quotas(self._session_for(access), served)
        with self.database.transaction() as session:
            _check_new(session, name, account_id)
            cell = CellRecord(
                name=name,
                account_id=access.account_id,
                role_arn=access.role_arn,
                external_id=access.external_id,
                regions=served,
                headroom_percent=headroom,
                quotas=quotas,
                quotas_read_at=utcnow(),
                drained=False,
            )
            session.add(cell)
            session.flush()
            return _view(session, cell)

    def vend(self, tenant_id: str, *, email: str, region: str) -> CellView:
        """Create a silo account for `tenant_id` through Organizations; register it as a cell
        and list it in the management stack's config."""
        _tenant_id(tenant_id)
        if not _EMAIL.fullmatch(email) or len(email) > 64:
            raise CellError(
                f"email {email!r} is not an address AWS accepts (at most 64 characters)"
            )
        served = _regions([region])
        name = silo_cell_name(tenant_id)
        with self.database.transaction() as session:
            _check_new(session, name, None)
        access = vend_account(
            self._organizations(),
            SiloRequest(
                tenant_id=tenant_id,
                email=email,
                role_name=self.settings.silo_access_role,
                organizational_unit=self.settings.silo_organizational_unit or None,
            ),
        )
        quotas = read_quotas(self._session_for(access), served)
        with self.database.transaction() as session:
            _check_new(session, name, access.account_id)
            cell = CellRecord(
                name=name,
                account_id=access.account_id,
                role_arn=access.role_arn,
                external_id=None,
                regions=served,
                headroom_percent=self.settings.cell_headroom_percent,
                quotas=quotas,
                quotas_read_at=utcnow(),
                silo_tenant=tenant_id,
                account_email=email,
                drained=False,
            )
            session.add(cell)
            session.flush()
            write_management_stack(
                session, self.settings, StackFiles(self.settings.stacks_dir).root
            )
            return _view(session, cell)

    def refresh(self, name: str) -> CellView:
        """Read the cell's quotas again (after AWS raised one)."""
        with self.database.transaction() as session:
            cell = _cell(session, name)
            access = CellAccess(cell.account_id, cell.role_arn, cell.external_id)
            regions = list(cell.regions)
        quotas = read_quotas(self._session_for(access), regions)
        with self.database.transaction() as session:
            cell = _cell(session, name, for_update=True)
            cell.quotas = quotas
            cell.quotas_read_at = utcnow()
            return _view(session, cell)

    def drain(self, name: str, *, undo: bool = False) -> CellView:
        """Stop (or, with `undo`, resume) placing new tenants in the cell."""
        with self.database.transaction() as session:
            cell = _cell(session, name, for_update=True)
            cell.drained = not undo
            return _view(session, cell)

    def show(self, name: str) -> CellView:
        with self.database.transaction() as session:
            return _view(session, _cell(session, name))

    def cells(self) -> list[CellView]:
        with self.database.transaction() as session:
            rows = session.scalars(select(CellRecord).order_by(CellRecord.name))
            return [_view(session, cell) for cell in rows]

    def _headroom(self, value: int | None) -> int:
        headroom = self.settings.cell_headroom_percent if value is None else value
        if not 0 <= headroom <= 90:
            raise CellError(f"headroom {headroom}% is outside 0-90%")
        return headroom


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TENANT_ID: TypeAdapter[str] = TypeAdapter(TenantId)


def _access(name: str, account_id: str, role_arn: str, external_id: str | None) -> CellAccess:
    """Validated the way the spec validates a placement, so every cell can be placed into."""
    try:
        checked = CellPlacement(
            name=name, account_id=account_id, role_arn=role_arn, external_id=external_id
        )
    except ValidationError as error:
        raise CellError(format_validation_error(error).replace("tenant spec", "cell")) from None
    if checked.name.startswith("silo-"):
        raise CellError(
            f"cell names starting with 'silo-' are kept for silo accounts (got {name!r})"
        )
    return CellAccess(checked.account_id, checked.role_arn, checked.external_id)


def _regions(regions: Sequence[str]) -> list[str]:
    served = list(dict.fromkeys(regions))
    if not served:
        raise CellError("a cell serves at least one region; pass --region")
    if len(served) > MAX_REGIONS:
        raise CellError(f"a cell serves at most {MAX_REGIONS} regions (got {len(served)})")
    unknown = [r for r in served if r not in SUPPORTED_REGIONS]
    if unknown:
        raise CellError(
            f"unsupported region(s) {', '.join(unknown)}; supported: {', '.join(SUPPORTED_REGIONS)}"
        )
    return served


def _tenant_id(tenant_id: str) -> None:
    try:
        _TENANT_ID.validate_python(tenant_id)
    except ValidationError:
        raise CellError(
            f"tenant id {tenant_id!r} is not a tenant slug: lower-case letters, digits and "
            f"hyphens, 3-20 characters, starting with a letter"
        ) from None


def _check_new(session: Session, name: str, account_id: str | None) -> None:
    if session.get(CellRecord, name) is not None:
        raise CellError(f"cell {name!r} already exists")
    if account_id is not None:
        holder = session.scalars(
            select(CellRecord.name).where(CellRecord.account_id == account_id)
        ).one_or_none()
        if holder is not None:
            raise CellError(f"account {account_id} is already cell {holder!r}")


def _cell(session: Session, name: str, *, for_update: bool = False) -> CellRecord:
    query = select(CellRecord).where(CellRecord.name == name)
    if for_update:
        query = query.with_for_update()
    cell = session.scalars(query).one_or_none()
    if cell is None:
        known = ", ".join(session.scalars(select(CellRecord.name).order_by(CellRecord.name)))
        raise CellError(f"unknown cell {name!r}; known cells: {known or 'none yet'}")
    return cell


def _view(session: Session, cell: CellRecord) -> CellView:
    placed = placed_in(session, cell.name)
    retained = False
    if cell.silo_tenant is not None:
        state = session.scalar(select(Tenant.state).where(Tenant.id == cell.silo_tenant))
        retained = state == TenantState.RETIRED.value
    everyone = session.scalars(
        select(TenantPlacement.tenant_id).where(TenantPlacement.cell_name == cell.name)
    ).all()
    live = {p.tenant_id for p in placed}
    return CellView(
        name=cell.name,
        account_id=cell.account_id,
        role_arn=cell.role_arn,
        external_id_set=cell.external_id is not None,
        regions=list(cell.regions),
        headroom_percent=cell.headroom_percent,
        drained=cell.drained,
        silo_tenant=cell.silo_tenant,
        retained=retained,
        tenants=sorted(t for t in everyone if t in live),
        quotas_read_at=cell.quotas_read_at,
        use=cell_use(cell.quotas, cell.headroom_percent, cell.regions, placed),
    )
