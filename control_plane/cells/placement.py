"""Placing tenants in cells, inside the transaction that registers or re-plans them.

A new pool tenant goes to the least-filled cell that serves its region, is not drained and
has room for its plan; a silo tenant to the account vended for it. The placement is
recorded with what the plan reserves, and the chosen cell goes into the tenant's spec,
fixed for its life. With no cells registered at all, tenants stay unplaced (one account,
the ambient credentials').
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from components.plans import PlanName
from components.spec import CellPlacement, Isolation, TenantSpec
from control_plane.cells.capacity import (
    Placed,
    cell_use,
    describe_shortfall,
    fill,
    missing_quotas,
    shortfalls,
)
from control_plane.cells.consumption import plan_consumption
from control_plane.registry.cell_models import CellRecord, TenantPlacement
from control_plane.registry.lifecycle import TenantState
from control_plane.registry.models import Tenant


class PlacementError(ValueError):
    """No cell can take the tenant (or its new plan); the message names the quota."""


def placement_of(cell: CellRecord) -> CellPlacement:
    """The spec's view of a cell: what the tenant's provider needs to reach it."""
    return CellPlacement(
        name=cell.name,
        account_id=cell.account_id,
        role_arn=cell.role_arn,
        external_id=cell.external_id,
    )


def placed_in(session: Session, cell_name: str, *, exclude: str | None = None) -> list[Placed]:
    """What the live (not retired) tenants of a cell reserve."""
    query = (
        select(TenantPlacement)
        .join(Tenant, Tenant.id == TenantPlacement.tenant_id)
        .where(
            TenantPlacement.cell_name == cell_name,
            Tenant.state != TenantState.RETIRED.value,
        )
    )
    if exclude is not None:
        query = query.where(TenantPlacement.tenant_id != exclude)
    return [
        Placed(tenant_id=p.tenant_id, region=p.region, consumption=dict(p.consumption))
        for p in session.scalars(query)
    ]


def cells_exist(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(CellRecord)))


def place(session: Session, spec: TenantSpec) -> CellPlacement | None:
    """Choose and record the new tenant's cell; `None` when no cells are registered."""
    if not cells_exist(session):
        if spec.isolation is Isolation.SILO:
            raise PlacementError(_no_silo_account(spec.tenant_id))
        return None
    need = plan_consumption(spec.plan)
    if spec.isolation is Isolation.SILO:
        cell = session.scalars(
            select(CellRecord).where(CellRecord.silo_tenant == spec.tenant_id).with_for_update()
        ).one_or_none()
        if cell is None:
            raise PlacementError(_no_silo_account(spec.tenant_id))
        _check_fits(session, cell, spec.region, spec.plan, need, tenant_id=spec.tenant_id)
    else:
        cell = _least_filled(session, spec, need)
    _record(
        session, tenant_id=spec.tenant_id, cell=cell, region=spec.region, plan=spec.plan, need=need
    )
    return placement_of(cell)


def adopt(session: Session, spec: TenantSpec) -> None:
    """Record the placement a registered stack file already names (after checking it)."""
    if spec.cell is None:
        if cells_exist(session):
            raise PlacementError(
                f"stack file of {spec.tenant_id!r} names no cell, but cells are registered; "
                f"create the tenant with `tenantctl tenants create` to have it placed"
            )
        return
    cell = session.scalars(
        select(CellRecord).where(CellRecord.name == spec.cell.name).with_for_update()
    ).one_or_none()
    if cell is None or placement_of(cell) != spec.cell:
        raise PlacementError(
            f"stack file of {spec.tenant_id!r} names cell {spec.cell.name!r} "
            f"({spec.cell.account_id}, {spec.cell.role_arn}), which is not a registered cell; "
            f"register the account with `tenantctl cells add` (see `tenantctl cells list`)"
        )
    if cell.silo_tenant not in (None, spec.tenant_id):
        raise PlacementError(f"cell {cell.name!r} is the silo account of {cell.silo_tenant!r}")
    need = plan_consumption(spec.plan)
    _check_fits(session, cell, spec.region, spec.plan, need, tenant_id=spec.tenant_id)
    _record(
        session, tenant_id=spec.tenant_id, cell=cell, region=spec.region, plan=spec.plan, need=need
    )


def replan(session: Session, tenant_id: str, plan: PlanName) -> None:
    """Reserve what `plan` takes in the tenant's cell, or refuse naming the quota."""
    placement = session.get(TenantPlacement, tenant_id)
    if placement is None or placement.plan == plan.value:
        return
    cell = session.scalars(
        select(CellRecord).where(CellRecord.name == placement.cell_name).with_for_update()
    ).one()
    need = plan_consumption(plan)
    _check_fits(session, cell, placement.region, plan, need, tenant_id=tenant_id)
    placement.plan = plan.value
    placement.consumption = dict(need)


def _least_filled(session: Session, spec: TenantSpec, need: dict[str, int]) -> CellRecord:
    pool = list(
        session.scalars(
            select(CellRecord)
            .where(CellRecord.silo_tenant.is_(None))
            .order_by(CellRecord.name)
            .with_for_update()
        )
    )
    serving = [c for c in pool if spec.region in c.regions]
    if not serving:
        names = ", ".join(f"{c.name} ({', '.join(c.regions)})" for c in pool) or "none"
        raise PlacementError(
            f"no pool cell serves region {spec.region!r}; pool cells: {names}; "
            f"add one with `tenantctl cells add`"
        )
    reasons: list[str] = []
    candidates: list[tuple[float, str, CellRecord]] = []
    for cell in serving:
        if cell.drained:
            reasons.append(f"{cell.name}: drained")
            continue
        problem = _fit_problem(session, cell, spec.region, need, tenant_id=None)
        if problem:
            reasons.append(problem)
            continue
        use = cell_use(
            cell.quotas, cell.headroom_percent, [spec.region], placed_in(session, cell.name)
        )
        candidates.append((fill(use, spec.region), cell.name, cell))
    if not candidates:
        raise PlacementError(
            f"no cell serving {spec.region} has room for plan {spec.plan.value!r}: "
            + "; ".join(reasons)
        )
    return min(candidates, key=lambda c: (c[0], c[1]))[2]


def _fit_problem(
    session: Session, cell: CellRecord, region: str, need: dict[str, int], *, tenant_id: str | None
) -> str | None:
    missing = missing_quotas(cell.quotas, region, need)
    if missing:
        return f"{cell.name}: quotas never read: {', '.join(missing)} (`tenantctl cells refresh`)"
    use = cell_use(
        cell.quotas,
        cell.headroom_percent,
        [region],
        placed_in(session, cell.name, exclude=tenant_id),
    )
    short = shortfalls(use, region, need)
    if short:
        return "; ".join(describe_shortfall(cell.name, row, wanted) for row, wanted in short)
    return None


def _check_fits(
    session: Session,
    cell: CellRecord,
    region: str,
    plan: PlanName,
    need: dict[str, int],
    *,
    tenant_id: str,
) -> None:
    if region not in cell.regions:
        raise PlacementError(f"cell {cell.name!r} serves {', '.join(cell.regions)}, not {region!r}")
    problem = _fit_problem(session, cell, region, need, tenant_id=tenant_id)
    if problem:
        raise PlacementError(
            f"plan {plan.value!r} does not fit cell {cell.name!r} of tenant {tenant_id!r}: "
            f"{problem}; raise the quota and run `tenantctl cells refresh {cell.name}`"
        )


def _record(
    session: Session,
    *,
    tenant_id: str,
    cell: CellRecord,
    region: str,
    plan: PlanName,
    need: dict[str, int],
) -> None:
    session.add(
        TenantPlacement(
            tenant_id=tenant_id,
            cell_name=cell.name,
            region=region,
            plan=plan.value,
            consumption=dict(need),
        )
    )
    session.flush()


def _no_silo_account(tenant_id: str) -> str:
    return (
        f"tenant {tenant_id!r} is a silo tenant and has no account yet; vend it with "
        f"`tenantctl cells vend {tenant_id} --email <address>`"
    )
