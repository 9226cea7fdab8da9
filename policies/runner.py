"""`check_stacks`: plan each selected stack offline, run the pack on it, add fleet checks.

Tenants are independent, so they run in a process pool (the SDK's mocks are process-wide
state, so one process plans one stack at a time), slowest first. A tenant's report is
reused from the plan cache when its spec, the program, the pack and its configuration and
the pinned versions are all unchanged; the fleet checks always read every stack file.
Results keep the selection's order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components.stack_config import engine_config
from planner.batch import (
    PLAN_ERRORS,
    PoolStarter,
    Progress,
    document_spec,
    planning_weight,
    run_slowest_first,
)
from planner.cache import (
    ParsedSpecs,
    PlanCache,
    PlanInputs,
    canonical_json,
    collector_paused,
    digest,
    source_digest,
)
from planner.model import PlanFailure, TenantPlan, read_plan_document
from planner.program import batch_heap, plan_spec
from planner.quotas import count_consumption
from planner.stacks import PROJECT_ROOT, StackDocument, StackFiles, stack_name
from policies.config import PackConfig
from policies.fleet import (
    INVALID_STACK,
    CellQuotas,
    CellUse,
    StackEntry,
    cell_quota_findings,
    fleet_findings,
)
from policies.frameworks import Control, Framework
from policies.gate import Finding, NotApplicable, evaluate_plan
from policies.rules.network import VPC

POLICY_SOURCES = ("policies",)
"""What a check result depends on besides the plan, relative to the project root."""


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
    reused: int = 0
    """Reports served from the plan cache instead of planned and checked."""

    @property
    def findings(self) -> list[Finding]:
        return [f for t in self.tenants for f in t.findings]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tenants)


def check_stack_file(path: Path, pack_config: PackConfig | None = None) -> TenantReport:
    """Plan one stack file offline and evaluate the pack on it."""
    document = next(StackFiles(path.parent).documents([stack_name(path)]))
    return _check_document(document, pack_config)[0]


def _check_document(
    document: StackDocument, pack_config: PackConfig | None
) -> tuple[TenantReport, TenantPlan | None]:
    started = time.perf_counter()
    try:
        spec = document_spec(document)
        plan = plan_spec(spec)
    except PLAN_ERRORS as error:
        finding = INVALID_STACK.finding(document.stack, str(error), resource=document.path.name)
        return TenantReport(document.stack, str(document.path), (finding,), ()), None
    planned = time.perf_counter()
    evaluation = evaluate_plan(plan, stack_config=engine_config(spec), pack_config=pack_config)
    report = TenantReport(
        tenant=document.stack,
        stack_file=str(document.path),
        findings=evaluation.findings,
        evaluated=evaluation.evaluated,
        not_applicable=evaluation.not_applicable,
        resource_count=len(plan.resources),
        plan_seconds=planned - started,
        policy_seconds=time.perf_counter() - planned,
        network_cidrs=_vpc_cidrs(plan),
        cell_use=(
            CellUse(document.stack, spec.cell.name, spec.region, count_consumption(plan))
            if spec.cell is not None
            else None
        ),
    )
    return report, plan


def check_plan_file(path: Path, pack_config: PackConfig | None = None) -> list[TenantReport]:
    """Evaluate the pack on saved plans: what `tenantctl plan --json` writes (one tenant or
    the fleet), or a single `TenantPlan`. A tenant the file lists as not planned is
    reported as an invalid stack. `OSError` or `ValueError` when the file cannot be read.

    The stacks' specs are not known here, so residency falls back to the allowed regions.
    """
    reports = []
    for entry in read_plan_document(path.read_text()):
        if isinstance(entry, PlanFailure):
            finding = INVALID_STACK.finding(entry.tenant, entry.error, resource=entry.stack_file)
            reports.append(TenantReport(entry.tenant, str(path), (finding,), ()))
            continue
        started = time.perf_counter()
        evaluation = evaluate_plan(entry, stack_config={}, pack_config=pack_config)
        reports.append(
            TenantReport(
                tenant=entry.tenant,
                stack_file=str(path),
                findings=evaluation.findings,
                evaluated=evaluation.evaluated,
                not_applicable=evaluation.not_applicable,
                resource_count=len(entry.resources),
                policy_seconds=time.perf_counter() - started,
                network_cidrs=_vpc_cidrs(entry),
            )
        )
    return reports


def _vpc_cidrs(plan: TenantPlan) -> tuple[str, ...]:
    return tuple(str(r.inputs["cidrBlock"]) for r in plan.by_type(VPC) if r.inputs.get("cidrBlock"))


@dataclass(frozen=True)
class CheckKeys:
    """Cache keys of one stack: its plan, and its report under this pack configuration."""

    plan: str
    report: str


@dataclass(frozen=True)
class CheckInputs:
    """Everything besides a stack's spec that shapes its report."""

    plan_inputs: PlanInputs
    policies: str
    """Digest of the policy pack's sources."""
    pack_config: str
    """The pack configuration, canonical."""

    @classmethod
    def of_project(cls, pack_config: PackConfig | None, root: Path = PROJECT_ROOT) -> CheckInputs:
        return cls(
            PlanInputs.of_project(root),
            source_digest(root, POLICY_SOURCES),
            pack_fingerprint(pack_config or PackConfig()),
        )

    def keys(self, stack: str, spec: Any) -> CheckKeys:
        plan = self.plan_inputs.plan_key(stack, spec)
        return CheckKeys(plan, digest("report", plan, self.policies, self.pack_config))


def pack_fingerprint(pack: PackConfig) -> str:
    return canonical_json(
        {
            "all": pack.default_level.value if pack.default_level else None,
            "levels": {name: level.value for name, level in pack.levels.items()},
            "properties": pack.properties,
        }
    )


@dataclass(frozen=True)
class _CheckJob:
    document: StackDocument
    pack_config: PackConfig | None
    keys: CheckKeys
    cache: PlanCache | None


def _check_job(job: _CheckJob) -> TenantReport:
    with batch_heap():
        report, plan = _check_document(job.document, job.pack_config)
        if job.cache is not None and plan is not None:
            job.cache.put(job.keys.report, report_value(report))
            job.cache.put(job.keys.plan, plan.model_dump(mode="json"))
    return report


def report_value(report: TenantReport) -> dict[str, Any]:
    """A report as a cache entry: plain JSON."""
    return {
        "findings": [
            {
                "policy": f.policy,
                "enforcement": f.enforcement,
                "severity": f.severity,
                "message": f.message,
                "description": f.description,
                "remediation": f.remediation,
                "urn": f.urn,
                "resource_type": f.resource_type,
                "resource_name": f.resource_name,
                "controls": [[c.framework.value, c.control] for c in f.controls],
            }
            for f in report.findings
        ],
        "evaluated": list(report.evaluated),
        "not_applicable": [[n.policy, n.urn, n.reason] for n in report.not_applicable],
        "resource_count": report.resource_count,
        "plan_seconds": report.plan_seconds,
        "policy_seconds": report.policy_seconds,
        "network_cidrs": list(report.network_cidrs),
        "cell_use": None
        if report.cell_use is None
        else {
            "cell": report.cell_use.cell,
            "region": report.cell_use.region,
            "consumption": dict(report.cell_use.consumption),
        },
    }


def report_from_value(
    document: StackDocument, value: Any, shared: dict[tuple[str, ...], Any]
) -> TenantReport:
    """A cached report for this stack; `shared` lets thousands of reports share one
    `evaluated` tuple."""
    evaluated = tuple(value["evaluated"])
    return TenantReport(
        tenant=document.stack,
        stack_file=str(document.path),
        findings=tuple(
            Finding(
                tenant=document.stack,
                policy=f["policy"],
                enforcement=f["enforcement"],
                severity=f["severity"],
                message=f["message"],
                description=f["description"],
                remediation=f["remediation"],
                urn=f["urn"],
                resource_type=f["resource_type"],
                resource_name=f["resource_name"],
                controls=tuple(Control(Framework(fw), c) for fw, c in f["controls"]),
            )
            for f in value["findings"]
        ),
        evaluated=shared.setdefault(evaluated, evaluated),
        not_applicable=tuple(NotApplicable(*n) for n in value["not_applicable"]),
        resource_count=int(value["resource_count"]),
        plan_seconds=float(value["plan_seconds"]),
        policy_seconds=float(value["policy_seconds"]),
        network_cidrs=tuple(value["network_cidrs"]),
        cell_use=_cell_use(document.stack, value["cell_use"]),
    )


def _cell_use(stack: str, value: Any) -> CellUse | None:
    if value is None:
        return None
    consumption = {str(k): int(v) for k, v in value["consumption"].items()}
    return CellUse(stack, str(value["cell"]), str(value["region"]), consumption)


def check_stacks(
    stacks_dir: Path,
    tenants: Sequence[str],
    *,
    workers: int = 0,
    pack_config: PackConfig | None = None,
    cache: PlanCache | None = None,
    on_progress: Progress | None = None,
    cells: Sequence[CellQuotas] | None = None,
) -> CheckResult:
    """Check the named stacks of `stacks_dir` in `workers` processes (0: one per core),
    reusing the reports `cache` holds for them. With `cells` (quota values per cell), the
    checked stacks' plans are also counted against their cells' quotas."""
    inputs = CheckInputs.of_project(pack_config)
    selected = list(dict.fromkeys(tenants))
    reports: dict[str, TenantReport] = {}
    shared: dict[tuple[str, ...], Any] = {}
    jobs: list[tuple[tuple[int, int], _CheckJob]] = []
    pool = PoolStarter(workers, preload=[__name__])
    if cache is None:
        pool.expect(len(selected))  # every stack is planned
    with collector_paused():
        parsed = ParsedSpecs.load(cache, inputs.plan_inputs) if cache is not None else None
        everything = list(StackFiles(stacks_dir).documents(parsed=parsed))
        by_stack = {d.stack: d for d in everything}
        for stack in selected:
            document = by_stack.get(stack) or next(StackFiles(stacks_dir).documents([stack]))
            keys = inputs.keys(stack, document.spec)
            cached = cache.get(keys.report) if cache is not None and document.spec else None
            try:
                reports[stack] = report_from_value(document, cached, shared)
            except (KeyError, TypeError, ValueError):  # not cached (or not a report): check it
                weight = planning_weight(document.spec)
                jobs.append((weight, _CheckJob(document, pack_config, keys, cache)))
                pool.expect(len(jobs))
    for done, report in enumerate(
        run_slowest_first(_check_job, jobs, workers=workers, preload=[__name__]), start=1
    ):
        reports[report.tenant] = report
        if on_progress is not None:
            on_progress(done, len(jobs))
    if parsed is not None:
        parsed.save()
    if cache is not None and (jobs or (parsed and parsed.added)):
        cache.trim()  # only a run that wrote can have grown it
    with collector_paused():
        fleet = fleet_findings(
            [StackEntry.of(d) for d in everything],
            {stack: r.network_cidrs for stack, r in reports.items()},
            selected,
        )
        if cells is not None:
            uses = [r.cell_use for r in reports.values() if r.cell_use is not None]
            fleet += cell_quota_findings(uses, cells, selected)
        by_tenant: dict[str, list[Finding]] = {}
        for finding in fleet:
            by_tenant.setdefault(finding.tenant, []).append(finding)
        combined = tuple(
            replace(reports[t], findings=(*reports[t].findings, *by_tenant[t]))
            if t in by_tenant
            else reports[t]
            for t in selected
        )
    return CheckResult(combined, reused=len(selected) - len(jobs))
