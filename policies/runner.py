"""`check_stacks`: plan each selected stack offline, run the pack on it, add fleet checks.

Tenants are independent, so they run in a process pool (the SDK's mocks are process-wide
state, so one process plans one stack at a time). Results keep the selection's order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from components.stack_config import InvalidStackError, engine_config
from planner.model import TenantPlan
from planner.program import PlanError, plan_config, planner_pool
from planner.quotas import count_consumption
from planner.stacks import StackFiles, UnknownTenantError, stack_name
from policies.config import PackConfig
from policies.fleet import (
    INVALID_STACK,
    CellQuotas,
    CellUse,
    cell_quota_findings,
    fleet_findings,
    read_fleet,
)
from policies.gate import Finding, NotApplicable, evaluate_plan
from policies.rules.network import VPC


@dataclass(frozen=True)
class TenantReport:
    """The gate's verdict on one tenant stack."""

    tenant: str
    stack_file: str
    findings: tuple[Finding, ...]
    evaluated: tuple[str, ...]
    """Policies that ran; empty when the stack could not be planned."""
    not_applicable: tuple[NotApplicable, ...] = ()
    resource_count: int = 0
    plan_seconds: float = 0.0
    policy_seconds: float = 0.0
    network_cidrs: tuple[str, ...] = ()
    """CIDRs of the planned VPCs, for the fleet checks."""
    cell_use: CellUse | None = None
    """What the stack takes from its cell's quotas (placed stacks only)."""

    @property
    def passed(self) -> bool:
        return not any(f.mandatory for f in self.findings)


@dataclass(frozen=True)
class CheckResult:
    """Every selected tenant's report, fleet findings included."""

    tenants: tuple[TenantReport, ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for t in self.tenants for f in t.findings]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tenants)


def check_stack_file(path: Path, pack_config: PackConfig | None = None) -> TenantReport:
    """Plan one stack file offline and evaluate the pack on it."""
    tenant = stack_name(path)
    started = time.perf_counter()
    try:
        spec = StackFiles(path.parent).read_spec(tenant)
        stack_config = engine_config(spec)
        plan = plan_config(tenant, stack_config)
    except (InvalidStackError, UnknownTenantError, PlanError) as error:
        finding = INVALID_STACK.finding(tenant, str(error), resource=path.name)
        return TenantReport(tenant, str(path), (finding,), ())
    planned = time.perf_counter()
    evaluation = evaluate_plan(plan, stack_config=stack_config, pack_config=pack_config)
    return TenantReport(
        tenant=tenant,
        stack_file=str(path),
        findings=evaluation.findings,
        evaluated=evaluation.evaluated,
        not_applicable=evaluation.not_applicable,
        resource_count=len(plan.resources),
        plan_seconds=planned - started,
        policy_seconds=time.perf_counter() - planned,
        network_cidrs=_vpc_cidrs(plan),
        cell_use=(
            CellUse(tenant, spec.cell.name, spec.region, count_consumption(plan))
            if spec.cell is not None
            else None
        ),
    )


def check_plan_file(path: Path, pack_config: PackConfig | None = None) -> TenantReport:
    """Evaluate the pack on a saved `TenantPlan` (JSON), e.g. one exported by another tool.

    The stack's spec is not known here, so residency falls back to the allowed regions.
    """
    plan = TenantPlan.model_validate_json(path.read_text())
    started = time.perf_counter()
    evaluation = evaluate_plan(plan, stack_config={}, pack_config=pack_config)
    return TenantReport(
        tenant=plan.tenant,
        stack_file=str(path),
        findings=evaluation.findings,
        evaluated=evaluation.evaluated,
        not_applicable=evaluation.not_applicable,
        resource_count=len(plan.resources),
        policy_seconds=time.perf_counter() - started,
        network_cidrs=_vpc_cidrs(plan),
    )


def _vpc_cidrs(plan: TenantPlan) -> tuple[str, ...]:
    return tuple(str(r.inputs["cidrBlock"]) for r in plan.by_type(VPC) if r.inputs.get("cidrBlock"))


def _check_one(job: tuple[Path, PackConfig | None]) -> TenantReport:
    return check_stack_file(*job)


def check_stacks(
    stacks_dir: Path,
    tenants: Sequence[str],
    *,
    workers: int = 0,
    pack_config: PackConfig | None = None,
    cells: Sequence[CellQuotas] | None = None,
) -> CheckResult:
    """Check the named stacks of `stacks_dir` in `workers` processes (0: one per CPU).

    With `cells` (quota values per cell), the checked stacks' plans are also counted against
    their cells' quotas.
    """
    files = StackFiles(stacks_dir)
    selected = list(dict.fromkeys(tenants))
    jobs = [(files.path(t), pack_config) for t in selected]
    count = workers or os.cpu_count() or 1
    if count <= 1 or len(jobs) <= 1:
        reports = [_check_one(job) for job in jobs]
    else:
        with planner_pool(min(count, len(jobs)), preload=[__name__]) as pool:
            reports = list(pool.map(_check_one, jobs))
    fleet = fleet_findings(
        read_fleet(stacks_dir), {r.tenant: r.network_cidrs for r in reports}, selected
    )
    if cells is not None:
        uses = [r.cell_use for r in reports if r.cell_use is not None]
        fleet += cell_quota_findings(uses, cells, selected)
    by_tenant: dict[str, list[Finding]] = {}
    for finding in fleet:
        by_tenant.setdefault(finding.tenant, []).append(finding)
    combined = tuple(
        replace(r, findings=(*r.findings, *by_tenant.get(r.tenant, ()))) for r in reports
    )
    return CheckResult(combined)
