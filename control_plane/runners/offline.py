"""Plans tenant stacks offline, for machines without the pulumi CLI (or when configured).

The same `__main__.py` runs under the SDK's mocks and the policy pack checks what it
registered, but nothing is created: every result is a `RunMode.PLAN` result and every
event line starts with `plan:`. The last accepted plan of each tenant is kept in
`<data_dir>/plans/<tenant>.json`, so the next plan counts its changes against it and
`outputs` and `destroy` work from any process.

A plan file is the run's committed effect, so it is fenced: it records the lease
generation of the run that wrote it, and under the tenant's file lock a run writes (or
removes) it only while its lease holds and no later claim has written it already.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from components.spec import TenantSpec
from components.stack_config import InvalidStackError, engine_config
from control_plane.files import PRIVATE_FILE_MODE, private_dir, write_private
from control_plane.registry.runs import (
    PROVIDER_TYPE_PREFIX,
    DriftedResource,
    RunMode,
    RunResource,
    RunResult,
    StackOperation,
    scalar_outputs,
)
from control_plane.runners.base import (
    UNFENCED,
    EventSink,
    Fence,
    LeaseLost,
    RunnerError,
    session_name,
)
from control_plane.runners.retention import plan_retention
from planner.model import PlannedResource, TenantPlan
from planner.program import PLANNER_LOCK, PlanError, plan_spec
from policies.config import PackConfig
from policies.gate import evaluate_plan

PolicyCheck = Callable[[TenantSpec, TenantPlan], list[str]]
"""Runs the policy pack over a spec's plan; returns the mandatory violations (empty: allowed)."""

CHANGE_KINDS = ("create", "update", "delete", "same")


def pack_violations(
    spec: TenantSpec, plan: TenantPlan, pack_config: PackConfig | None = None
) -> list[str]:
    """The policy pack's mandatory findings on a plan, run by the offline gate (with the
    pack configuration `TENANTS_POLICY_CONFIG` names, as `up` and `preview` get it)."""
    evaluation = evaluate_plan(plan, stack_config=engine_config(spec), pack_config=pack_config)
    return [f"{f.policy}: {f.message}" for f in evaluation.findings if f.mandatory]


class PlanRecord(BaseModel):
    """The last accepted plan of one tenant, as kept in the data directory."""

    model_config = ConfigDict(frozen=True)

    spec: TenantSpec
    plan: TenantPlan
    planned_at: datetime
    lease_generation: int = 0
    """Fencing token of the run that wrote it (0 outside the queue)."""


def changed_resources(
    previous: TenantPlan | None, current: TenantPlan
) -> list[tuple[str, PlannedResource]]:
    """(change, resource) for every created, updated or deleted resource, by URN and inputs."""
    before = {r.urn: r for r in previous.resources} if previous else {}
    current_urns = {r.urn for r in current.resources}
    changed: list[tuple[str, PlannedResource]] = []
    for resource in current.resources:
        old = before.get(resource.urn)
        if old is None:
            changed.append(("create", resource))
        elif old.inputs != resource.inputs:
            changed.append(("update", resource))
    changed.extend(("delete", r) for urn, r in before.items() if urn not in current_urns)
    return changed


def drifted_resources(previous: TenantPlan | None, current: TenantPlan) -> list[DriftedResource]:
    """What an `up` of `current` would change in what `previous` planned, with the inputs
    that differ. A provider's role session name names the job, so it never counts."""
    before = {r.urn: r for r in previous.resources} if previous else {}
    drifted = []
    for change, resource in changed_resources(previous, current):
        old = before.get(resource.urn)
        properties: tuple[str, ...] = ()
        if change == "update" and old is not None:
            old_inputs, new_inputs = _comparable(old), _comparable(resource)
            if old_inputs == new_inputs:
                continue
            properties = tuple(
                sorted(
                    key
                    for key in set(old_inputs) | set(new_inputs)
                    if old_inputs.get(key) != new_inputs.get(key)
                )
            )
        drifted.append(
            DriftedResource(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                change=change,
                properties=properties,
            )
        )
    return drifted


def _comparable(resource: PlannedResource) -> dict[str, Any]:
    if not resource.type.startswith("pulumi:providers:"):
        return dict(resource.inputs)
    return {key: _without_session_names(value) for key, value in resource.inputs.items()}


def _without_session_names(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("[", "{")):
        try:
            value = json.loads(value)  # the engine passes provider objects as JSON strings
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _without_session_names(v) for k, v in value.items() if k != "sessionName"}
    if isinstance(value, list):
        return [_without_session_names(v) for v in value]
    return value


def plan_changes(previous: TenantPlan | None, current: TenantPlan) -> dict[str, int]:
    """Counts of resources created, updated, deleted and unchanged since the previous plan."""
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    for change, _ in changed_resources(previous, current):
        counts[change] += 1
    counts["same"] = len(current.resources) - counts["create"] - counts["update"]
    return counts


def planned_inventory(plan: TenantPlan) -> list[RunResource]:
    """The cloud resources a plan would leave in the stack (no components, no providers)."""
    return [
        RunResource(urn=r.urn, type=r.type, name=r.name, id=r.id, outputs=scalar_outputs(r.outputs))
        for r in plan.resources
        if r.custom and not r.type.startswith(PROVIDER_TYPE_PREFIX)
    ]


def state_resource(resource: PlannedResource) -> dict[str, Any]:
    """A planned resource in the state file's shape, as retention reads it."""
    return {
        "urn": resource.urn,
        "type": resource.type,
        "custom": resource.custom,
        "protect": resource.protect,
        "parent": resource.parent_urn,
        "dependencies": list(resource.dependencies),
        "id": resource.id or resource.name,
    }


class PlanStore:
    """`<data_dir>/plans/<tenant>.json`: the last accepted plan of each tenant."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "plans"

    def path(self, tenant: str) -> Path:
        return self.directory / f"{tenant}.json"

    def load(self, tenant: str) -> PlanRecord | None:
        path = self.path(tenant)
        try:
            return PlanRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError as exc:
            raise RunnerError(
                f"the recorded plan {path} is unreadable ({exc.error_count()} errors); "
                "delete it to plan this tenant from scratch"
            ) from exc

    def save(self, record: PlanRecord, fence: Fence = UNFENCED) -> Path:
        """Write the record (mode 0600) if `fence` still holds and nothing newer is there."""
        path = self.path(record.spec.tenant_id)
        with self._fenced(record.spec.tenant_id, fence):
            # Written aside and renamed: a reader in another process never sees half a file.
            write_private(path, record.model_dump_json())
        return path

    def remove(self, tenant: str, fence: Fence = UNFENCED) -> None:
        with self._fenced(tenant, fence):
            self.path(tenant).unlink(missing_ok=True)

    @contextmanager
    def _fenced(self, tenant: str, fence: Fence) -> Iterator[None]:
        """Hold the tenant's plan lock, then refuse a run that lost its lease or is older
        than the plan's writer (a paused worker resuming after a newer run finished)."""
        private_dir(self.directory)
        with open(self.directory / f".{tenant}.lock", "a", opener=_private_opener) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fence.check()
            written_by = self._written_by(tenant)
            if written_by > fence.token:
                raise LeaseLost(
                    f"the plan of {tenant} was written by a newer run (lease generation "
                    f"{written_by}, this run {fence.token}); this run's plan is discarded"
                )
            yield

    def _written_by(self, tenant: str) -> int:
        try:
            raw = json.loads(self.path(tenant).read_bytes())
        except FileNotFoundError:
            return 0
        except ValueError:
            return 0  # unreadable: `load` reports it; any run may replace it
        return int(raw.get("lease_generation", 0)) if isinstance(raw, dict) else 0


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, PRIVATE_FILE_MODE)


class OfflineRunner:
    """Evaluates the program under mocks and the policy pack; records plans, deploys nothing."""

    mode = RunMode.PLAN

    def __init__(self, data_dir: Path, policy_check: PolicyCheck = pack_violations) -> None:
        self.store = PlanStore(data_dir)
        self._policy_check = policy_check

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._plan_and_check(StackOperation.UP, spec, on_event, record=fence)

    def preview(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        return self._plan_and_check(StackOperation.PREVIEW, spec, on_event, record=None)

    def refresh(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        """Nothing is deployed, so there is no drift: the recorded plan is the whole truth."""
        record = self.store.load(spec.tenant_id)
        count = len(record.plan.resources) if record else 0
        on_event(f"plan: no cloud to compare with; {count} planned resources unchanged")
        return RunResult(
            operation=StackOperation.REFRESH,
            mode=self.mode,
            changes={"same": count},
            resource_count=count,
            resources=planned_inventory(record.plan) if record else [],
        )

    def destroy(
        self, spec: TenantSpec, on_event: EventSink, *, purge: bool, fence: Fence = UNFENCED
    ) -> RunResult:
        """Forget the tenant's plan; report the data a real destroy would keep unless `purge`."""
        record = self.store.load(spec.tenant_id)
        if record is None:
            on_event(f"plan: nothing planned for {spec.tenant_id}; nothing to destroy")
            return RunResult(
                operation=StackOperation.DESTROY,
                mode=self.mode,
                changes={"delete": 0},
                resources=[],
            )
        resources = [state_resource(r) for r in record.plan.resources]
        retention = plan_retention(resources)
        if purge:
            retained: list[str] = []
            deleted = len(resources)
        else:
            retained = retention.retained
            deleted = len(retention.destroyed)
            for line in retained:
                on_event(f"plan: retain {line}")
        on_event(f"plan: delete {deleted} resources")
        self.store.remove(spec.tenant_id, fence)
        return RunResult(
            operation=StackOperation.DESTROY,
            mode=self.mode,
            changes={"delete": deleted},
            retained=retained,
            resources=[],
        )

    def drift(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        """Offline there is no cloud to read: the drift is between the last accepted plan
        and what the registry's desired spec plans to now (a spec or program change that
        no `up` has applied). The stack file's side is `tenantctl health`'s to compare."""
        on_event(
            f"plan: comparing the last plan of {spec.tenant_id} with its desired spec "
            "offline; no cloud is read"
        )
        record = self.store.load(spec.tenant_id)
        if record is None:
            on_event("plan: no plan recorded: every resource would be created")
        elif record.spec != spec:
            fields = _changed_fields(
                record.spec.model_dump(mode="json"), spec.model_dump(mode="json")
            )
            on_event(f"plan: the last plan was made from another spec: {', '.join(fields[:8])}")
        try:
            with PLANNER_LOCK:
                plan = plan_spec(spec, role_session_name=session_name(spec))
        except (InvalidStackError, PlanError) as exc:
            raise RunnerError(f"plan {spec.tenant_id}: {exc}") from exc
        drifted = drifted_resources(record.plan if record else None, plan)
        for resource in drifted:
            on_event(f"plan: drifted: {resource.line()}")
        on_event(f"plan: {len(drifted)} of {len(plan.resources)} resources drifted")
        return RunResult(
            operation=StackOperation.DRIFT,
            mode=self.mode,
            changes={"same": len(plan.resources) - len(drifted), "drifted": len(drifted)},
            resource_count=len(plan.resources),
            drifted=tuple(drifted),
        )

    def outputs(self, tenant_id: str) -> dict[str, Any]:
        record = self.store.load(tenant_id)
        if record is None:
            raise RunnerError(f"tenant {tenant_id!r} has no recorded plan; run `up` first")
        return dict(record.plan.stack_outputs)

    def _plan(self, spec: TenantSpec) -> tuple[TenantPlan, list[str]]:
        """The spec's plan and the policy pack's mandatory violations on it."""
        try:
            # The policy check evaluates under the same process-wide SDK state as the plan.
            with PLANNER_LOCK:
                plan = plan_spec(spec, role_session_name=session_name(spec))
                return plan, self._policy_check(spec, plan)
        except (InvalidStackError, PlanError) as exc:
            raise RunnerError(f"plan {spec.tenant_id}: {exc}") from exc

    def _plan_and_check(
        self,
        operation: StackOperation,
        spec: TenantSpec,
        on_event: EventSink,
        *,
        record: Fence | None,
    ) -> RunResult:
        """Plan and check; with `record` (the run's fence) keep the plan as the last one."""
        on_event(f"plan: evaluating {spec.tenant_id} offline under mocks; nothing is deployed")
        plan, violations = self._plan(spec)
        for warning in plan.warnings:
            on_event(f"plan: warning: {warning}")
        for violation in violations:
            on_event(f"plan: policy mandatory: {violation}")
        if violations:
            on_event(f"plan: {operation.value} refused by {len(violations)} policy violations")
            return RunResult(operation=operation, mode=self.mode, policy_violations=violations)
        previous = self.store.load(spec.tenant_id)
        previous_plan = previous.plan if previous else None
        for change, resource in changed_resources(previous_plan, plan):
            on_event(f"plan: {change} {resource.type} {resource.name}")
        changes = plan_changes(previous_plan, plan)
        on_event("plan: summary " + " ".join(f"{k}={v}" for k, v in changes.items()))
        if record is not None:
            self.store.save(
                PlanRecord(
                    spec=spec,
                    plan=plan,
                    planned_at=datetime.now(UTC),
                    lease_generation=record.token,
                ),
                record,
            )
        return RunResult(
            operation=operation,
            mode=self.mode,
            changes=changes,
            outputs=dict(plan.stack_outputs),
            resource_count=len(plan.resources),
            resources=planned_inventory(plan) if record is not None else None,
        )


def _changed_fields(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        changed: list[str] = []
        for key in sorted(set(before) | set(after)):
            changed += _changed_fields(before.get(key), after.get(key), f"{path}{key}.")
        return changed
    return [] if before == after else [path.rstrip(".")]
