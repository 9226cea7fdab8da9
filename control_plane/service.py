"""The control plane's use cases: what `tenantctl`, the portal and the billing hook ask for.

Each use case is one transaction: it validates first (spec, lifecycle transition, network)
and writes nothing when anything is wrong. Accepted changes record a new desired spec
version, rewrite the tenant's stack file (the GitOps source of truth) and queue the stack
operation; the worker does the slow part.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from components.plans import PlanName
from components.spec import (
    CellPlacement,
    TenantSpec,
    clip,
    format_validation_error,
    tenant_id_problem,
)
from components.stack_config import InvalidStackError
from control_plane.cells.consumption import plan_consumption
from control_plane.cells.placement import PlacementError, adopt, cells_exist, place, replan
from control_plane.inventory import ResourceInventory, group_by_component
from control_plane.queue.jobs import APPLY_KINDS, JobKind, JobNotFoundError, JobQueue, JobStatus
from control_plane.registry import cidr
from control_plane.registry.database import Database
from control_plane.registry.lifecycle import Action, TenantState, next_state
from control_plane.registry.models import Job, Operation, Tenant, utcnow
from control_plane.registry.repository import FleetSummary, Registry
from control_plane.runners.offline import CHANGE_KINDS, PlanStore, plan_changes
from control_plane.settings import Settings
from planner.program import PlanError, plan_spec
from planner.stacks import StackFiles, UnknownTenantError


class InvalidSpecError(ValueError):
    """The requested spec is not valid; the message lists every offending field."""


class PlacementRefusedError(InvalidSpecError):
    """No cell can take the tenant or its new plan; the message names the quota. Billing
    retries it on its next pass, so adding capacity lets the request through."""


class SpecChangeError(ValueError):
    """A change the control plane does not make through an update (names the right way)."""


class SpecVersionConflictError(ValueError):
    """The desired spec changed since the version the request was based on (a lost update)."""


class PurgeNotConfirmedError(ValueError):
    """A purge was asked for without confirming the tenant id."""


class StackFileExistsError(FileExistsError):
    """A stack file exists for a tenant the registry does not know."""


class StackFileMissingError(FileNotFoundError):
    """A tenant is to be registered from a stack file that does not exist."""


@dataclass(frozen=True)
class Accepted:
    """What a request changed."""

    tenant_id: str
    action: str
    state: str
    spec_version: int
    job_id: int | None
    """The queued stack operation (None when there was nothing to do)."""
    superseded_jobs: list[int]
    """Queued jobs the new one made moot (coalescing)."""
    message: str


@dataclass(frozen=True)
class TenantView:
    """A tenant as people see it; plan-only results are marked as such."""

    tenant_id: str
    display_name: str | None
    plan: str
    state: str
    display_state: str
    """`state`, with ` (plan)` when its latest successful stack operation was only a plan."""
    last_run_mode: str | None
    """`plan` or `deploy` of the latest successful stack operation."""
    cidr: str | None
    spec_version: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    """Outputs of the latest successful `up` (planned values in plan mode)."""
    retained: list[str] = field(default_factory=list)
    """Data stores the last destroy kept."""
    pending_jobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class OperationView:
    id: int
    action: str
    actor: str
    mode: str | None
    status: str
    spec_version: int | None
    started_at: datetime
    finished_at: datetime | None
    message: str | None
    error: str | None
    changes: dict[str, int]
    outputs: dict[str, Any]
    retained: list[str]
    policy_violations: list[str]
    resource_count: int | None
    job_id: int | None
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChangePreview:
    """What a spec change would do, before it is queued."""

    tenant_id: str
    spec_version: int
    """The version the preview was made from: the change applies only on top of it."""
    fields: list[str]
    """`path=new value` of every field that changes (empty: nothing would change)."""
    changes: dict[str, int]
    """Resources to `create`, `update`, `delete` and left the `same` (offline plans)."""


@dataclass(frozen=True)
class JobView:
    id: int
    tenant_id: str
    kind: str
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    superseded_by: int | None


class _StackFileChanges:
    """Stack file writes of one use case, applied before commit and undone if it fails."""

    def __init__(self, stacks: StackFiles) -> None:
        self.stacks = stacks
        self._specs: list[TenantSpec] = []
        self._previous: dict[Path, str | None] = {}

    def write(self, spec: TenantSpec) -> None:
        self._specs.append(spec)

    def apply(self) -> None:
        for spec in self._specs:
            path = self.stacks.path(spec.tenant_id)
            self._previous.setdefault(path, path.read_text() if path.is_file() else None)
            self.stacks.write_spec(spec)

    def undo(self) -> None:
        for path, text in self._previous.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)


class TenantService:
    """Create, change, suspend, resume, retire and inspect tenants."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        stacks: StackFiles | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        # When requests happen: invoices are rated from the spec versions' times.
        self.clock = clock
        self.stacks = stacks if stacks is not None else StackFiles(settings.stacks_dir)
        self.queue = JobQueue(database, settings)

    @contextmanager
    def _use_case(self) -> Iterator[tuple[Registry, _StackFileChanges]]:
        files = _StackFileChanges(self.stacks)
        try:
            with self.database.transaction() as session:
                yield Registry(session), files
                files.apply()
        except BaseException:
            files.undo()
            raise

    # Requests that change the desired state

    def create(
        self,
        spec_data: Mapping[str, Any],
        *,
        actor: str,
        also: Callable[[Session], None] | None = None,
    ) -> Accepted:
        """Register a tenant, give it a network, write its stack file, queue its provision.

        `network.cidr` may be left out: a free block is allocated from the pool. `also`
        records more in the same transaction once the tenant row exists (billing binds the
        tenant to its subscription there, so the two are never apart).
        """
        data = copy.deepcopy(dict(spec_data))
        probe = self.check_new(data)
        network = dict(data.get("network") or {})
        chosen = network.get("cidr")
        tenant_id = probe.tenant_id
        path = self.stacks.path(tenant_id)
        self._measure(probe.plan)
        with self._use_case() as (registry, files):
            tenant = registry.add_tenant(probe, state=TenantState.PENDING)
            if path.is_file():
                raise StackFileExistsError(
                    f"{path} already exists but tenant {tenant_id!r} is not registered; "
                    f"register it with `tenantctl tenants create --from-stack {tenant_id}`"
                )
            session = registry.session
            elsewhere = self._stack_file_networks(registry, exclude=tenant_id)
            if chosen is None:
                block = cidr.allocate(
                    session,
                    tenant_id,
                    self.settings.cidr_pool,
                    self.settings.cidr_block_prefix,
                    elsewhere,
                )
            else:
                block = probe.network.cidr
                cidr.reserve(session, tenant_id, block, elsewhere)
            placed = _validate({**data, "network": {**network, "cidr": str(block)}})
            with _refused_placement():
                cell = place(session, placed)
            spec = _validate({**placed.model_dump(mode="json"), "cell": _dump(cell)})
            tenant.cidr = str(block)
            registry.add_spec_version(tenant, spec, actor=actor, reason="create", at=self.clock())
            if also is not None:
                also(session)
            files.write(spec)
            return self._queue(
                registry,
                tenant,
                JobKind.PROVISION,
                actor=actor,
                action="create",
                message=f"created on plan {spec.plan.value} with network {block}"
                + (f" in cell {cell.name}" if cell is not None else ""),
            )

    def check_new(self, spec_data: Mapping[str, Any]) -> TenantSpec:
        """The spec a create of `spec_data` would register, with a provisional network when
        none is chosen; `InvalidSpecError` naming every problem. Writes nothing."""
        network = spec_data.get("network")
        if network is not None and not isinstance(network, Mapping):
            raise InvalidSpecError(
                f"invalid tenant spec, 1 error:\n  network: must be a mapping (got {network!r})"
            )
        if "cell" in spec_data:
            raise SpecChangeError(
                "cell cannot be chosen: the control plane places a new tenant in a cell"
            )
        network = dict(network or {})
        # Validate everything else first; the real block is known only after allocation.
        provisional = str(
            next(self.settings.cidr_pool.subnets(new_prefix=self.settings.cidr_block_prefix))
        )
        return _validate(
            {**spec_data, "network": {**network, "cidr": network.get("cidr") or provisional}}
        )

    def _stack_file_networks(
        self, registry: Registry, *, exclude: str
    ) -> dict[str, ipaddress.IPv4Network]:
        """Networks in stack files of tenants the registry does not hold (GitOps tenants)."""
        registered = {t.id for t in registry.tenants()}
        networks: dict[str, ipaddress.IPv4Network] = {}
        for tenant in self.stacks.tenants():
            if tenant == exclude or tenant in registered:
                continue
            try:
                networks[tenant] = self.stacks.read_spec(tenant).network.cidr
            except (InvalidStackError, UnknownTenantError):
                continue  # a file that does not validate cannot be deployed either
        return networks

    def register_stack(self, tenant_id: str, *, actor: str) -> Accepted:
        """Register a tenant from its existing stack file (a GitOps-created stack)."""
        # Checked before the id becomes part of a path: only files inside the stacks
        # directory, named for a valid tenant id, are ever read.
        problem = tenant_id_problem(tenant_id)
        if problem is not None:
            raise InvalidSpecError(problem)
        path = self.stacks.path(tenant_id)
        if not path.is_file():
            raise StackFileMissingError(
                f"no stack file for tenant {tenant_id!r} at {path}: write it first, or create "
                "the tenant without --from-stack (--plan, --region, ...)"
            )
        spec = self.stacks.read_spec(tenant_id)
        self._measure(spec.plan)
        with self._use_case() as (registry, _files):
            tenant = registry.add_tenant(spec, state=TenantState.PENDING)
            with _refused_placement():
                adopt(registry.session, spec)
            elsewhere = self._stack_file_networks(registry, exclude=tenant_id)
            cidr.reserve(registry.session, tenant_id, spec.network.cidr, elsewhere)
            registry.add_spec_version(
                tenant, spec, actor=actor, reason="register stack file", at=self.clock()
            )
            return self._queue(
                registry,
                tenant,
                JobKind.PROVISION,
                actor=actor,
                action="create",
                message=f"registered from {self.stacks.path(tenant_id)}",
            )

    def update(
        self,
        tenant_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str = "update",
        expected_version: int | None = None,
    ) -> Accepted:
        """Merge `changes` (nested fields; `None` resets a field to its default) into the
        desired spec and queue an `up`; with `expected_version`, only if the spec is still
        at that version."""
        self._check_changes(changes)
        with self._use_case() as (registry, files):
            tenant = registry.tenant(tenant_id, for_update=True)
            if expected_version is not None and tenant.spec_version != expected_version:
                raise SpecVersionConflictError(
                    f"the spec of {tenant_id!r} is at version {tenant.spec_version}, not "
                    f"{expected_version}; read it again and reapply the change"
                )
            current, spec = _merged_spec(registry, tenant_id, changes)
            return self._change_spec(
                registry,
                files=files,
                tenant=tenant,
                current=current,
                spec=spec,
                actor=actor,
                reason=reason,
            )

    def preview_update(self, tenant_id: str, changes: Mapping[str, Any]) -> ChangePreview:
        """What `update` with `changes` would do, from offline plans of the current and the
        changed spec; validated exactly like `update`, and nothing is written."""
        self._check_changes(changes)
        with self.database.transaction() as session:
            registry = Registry(session)
            version = registry.tenant(tenant_id).spec_version
            current, spec = _merged_spec(registry, tenant_id, changes)
        fields = _changed_fields(current, spec)
        if not fields:
            return ChangePreview(tenant_id, version, [], dict.fromkeys(CHANGE_KINDS, 0))
        kept = PlanStore(self.settings.data_dir).load(tenant_id)
        try:
            before = kept.plan if kept and kept.spec == current else plan_spec(current)
            after = plan_spec(spec)
        except PlanError as error:
            raise InvalidSpecError(f"the changed spec cannot be planned: {error}") from None
        return ChangePreview(tenant_id, version, fields, plan_changes(before, after))

    def _check_changes(self, changes: Mapping[str, Any]) -> None:
        """What a change is refused for before the registry is read (the fields fixed for
        a tenant's life are refused against the current spec, in `_merged_spec`)."""
        if "suspended" in changes:
            raise SpecChangeError(
                "suspended cannot be updated: use `tenants suspend` or `tenants resume`"
            )
        if isinstance(changes.get("plan"), str) and changes["plan"] in set(PlanName):
            self._measure(PlanName(changes["plan"]))

    def sync_from_stack(self, tenant_id: str, *, actor: str) -> Accepted:
        """Take a registered tenant's edited stack file in as its desired spec (GitOps).

        The file is validated like any request; what is fixed for the tenant's life
        (`FIXED_FOR_LIFE`) and suspension (a request of its own) are refused.
        """
        with self._use_case() as (registry, files):
            tenant = registry.tenant(tenant_id, for_update=True)
            current = registry.spec(tenant_id)
            edited = self.stacks.read_spec(tenant_id)
            _refuse_a_move(current, edited.model_dump(mode="json"), where="stack file")
            if edited.suspended != current.suspended:
                raise SpecChangeError(
                    "suspended cannot be set in a stack file: use `tenants suspend` or "
                    "`tenants resume`"
                )
            return self._change_spec(
                registry,
                files=files,
                tenant=tenant,
                current=current,
                spec=edited,
                actor=actor,
                reason="sync from stack file",
            )

    def change_plan(
        self,
        tenant_id: str,
        plan: PlanName | str,
        *,
        actor: str,
        also: Callable[[Session], None] | None = None,
    ) -> Accepted:
        """Move the tenant to another plan; its defaults follow, overrides are re-checked.
        `also` records more in the same transaction (billing binds the tenant there)."""
        try:
            target = PlanName(plan)
        except ValueError:
            known = ", ".join(p.value for p in PlanName)
            raise InvalidSpecError(f"unknown plan {plan!r}; known plans: {known}") from None
        self._measure(target)
        with self._use_case() as (registry, files):
            tenant = registry.tenant(tenant_id, for_update=True)
            current = registry.spec(tenant_id)
            spec = _with_plan(current, target)
            if also is not None:
                also(registry.session)
            return self._change_spec(
                registry,
                files=files,
                tenant=tenant,
                current=current,
                spec=spec,
                actor=actor,
                reason=f"change plan to {target.value}",
            )

    def check_plan(self, tenant_id: str, plan: PlanName) -> TenantSpec:
        """The spec `change_plan` would give the tenant (overrides over the plan's limits
        refused, naming field and limit); nothing is written."""
        with self.database.transaction() as session:
            return _with_plan(Registry(session).spec(tenant_id), plan)

    def suspend(self, tenant_id: str, *, actor: str, reason: str = "suspend") -> Accepted:
        """Scale compute to zero; every data store is kept."""
        return self._set_suspended(
            tenant_id,
            suspended=True,
            action=Action.SUSPEND,
            kind=JobKind.SUSPEND,
            actor=actor,
            reason=reason,
        )

    def resume(self, tenant_id: str, *, actor: str, reason: str = "resume") -> Accepted:
        """Bring compute back to the spec's capacity."""
        return self._set_suspended(
            tenant_id,
            suspended=False,
            action=Action.RESUME,
            kind=JobKind.RESUME,
            actor=actor,
            reason=reason,
        )

    def delete(
        self, tenant_id: str, *, actor: str, purge: bool = False, confirm: str | None = None
    ) -> Accepted:
        """Queue the stack's destruction. Data stores are kept unless `purge` is confirmed
        by passing the tenant id as `confirm`."""
        if purge and confirm != tenant_id:
            raise PurgeNotConfirmedError(
                f"purging deletes every bucket, key and table of tenant {tenant_id!r} for good; "
                f"confirm with the tenant id (got {confirm!r})"
            )
        with self._use_case() as (registry, _files):
            tenant = registry.tenant(tenant_id, for_update=True)
            tenant.state = next_state(
                tenant_id,
                TenantState(tenant.state),
                Action.DEPROVISION,
                suspended=registry.spec(tenant_id).suspended,
            )
            kept = "data stores purged" if purge else "data stores retained"
            return self._queue(
                registry,
                tenant,
                JobKind.DEPROVISION,
                actor=actor,
                action="delete",
                message=f"deprovision queued ({kept})",
                purge=purge,
            )

    def run(self, tenant_id: str, kind: JobKind, *, actor: str) -> Accepted:
        """Queue `up`, `preview`, `refresh` or a drift check of the current desired spec."""
        actions = {JobKind.UP: Action.UP, JobKind.PREVIEW: Action.PREVIEW}
        actions[JobKind.REFRESH] = Action.REFRESH
        # A drift check reads like a refresh and, unlike one, never writes the state.
        actions[JobKind.DRIFT] = Action.REFRESH
        if kind not in actions:
            allowed = ", ".join(k.value for k in actions)
            raise ValueError(f"{kind.value} is not a direct stack operation; use one of {allowed}")
        with self._use_case() as (registry, _files):
            tenant = registry.tenant(tenant_id, for_update=True)
            tenant.state = next_state(
                tenant_id,
                TenantState(tenant.state),
                actions[kind],
                suspended=registry.spec(tenant_id).suspended,
            )
            return self._queue(
                registry, tenant, kind, actor=actor, action=kind.value, message=f"{kind} queued"
            )

    def retry_job(self, job_id: int, *, actor: str) -> Accepted:
        """Run a failed job again as a new job, if the tenant's state allows the operation
        (a failed `up` moves a failed tenant to `updating`, as `tenantctl up` would)."""
        with self._use_case() as (registry, _files):
            failed = registry.session.get(Job, job_id)
            if failed is None:
                raise JobNotFoundError(f"job {job_id} not found")
            tenant = registry.tenant(failed.tenant_id, for_update=True)
            job = self.queue.retry(registry.session, job_id, actor=actor)
            kind = JobKind(failed.kind)
            # Checked after the job's own refusals (clearer), undone with them on refusal.
            tenant.state = next_state(tenant.id, TenantState(tenant.state), _RETRY_ACTIONS[kind])
            message = (
                f"retry of job {job_id} ({kind.value}), which failed: "
                f"{clip(failed.last_error or 'no error kept', 200)}; job {job.id} queued"
            )
            registry.record_request(
                tenant.id,
                "retry",
                actor=actor,
                spec_version=job.spec_version,
                message=message,
                job_id=job.id,
                at=self.clock(),
            )
            return Accepted(
                tenant_id=tenant.id,
                action="retry",
                state=registry.display_state(tenant),
                spec_version=tenant.spec_version,
                job_id=job.id,
                superseded_jobs=[],
                message=message,
            )

    # Reads

    def show(self, tenant_id: str) -> TenantView:
        with self.database.transaction() as session:
            registry = Registry(session)
            return self._view(registry, registry.tenant(tenant_id))

    def tenants(self) -> list[TenantView]:
        with self.database.transaction() as session:
            registry = Registry(session)
            return [self._view(registry, t) for t in registry.tenants()]

    def resources_by_component(self, tenant_id: str) -> ResourceInventory:
        """The tenant's resources from its last run that recorded them, grouped by the
        bundle's components; `mode` marks an offline plan (nothing in the cloud)."""
        with self.database.transaction() as session:
            registry = Registry(session)
            registry.tenant(tenant_id)
            run = registry.last_inventory(tenant_id)
            if run is None:
                return ResourceInventory.empty(tenant_id)
            return ResourceInventory(
                tenant_id=tenant_id,
                mode=run.mode,
                operation_id=run.id,
                spec_version=run.spec_version,
                recorded_at=run.finished_at,
                groups=group_by_component(run.resources or []),
            )

    def history(
        self, tenant_id: str, *, limit: int = 50, events: bool = False
    ) -> list[OperationView]:
        """The tenant's operation log, newest first (with engine events when asked)."""
        with self.database.transaction() as session:
            registry = Registry(session)
            registry.tenant(tenant_id)
            return [
                _operation_view(op, registry if events else None)
                for op in registry.operations(tenant_id, limit=limit)
            ]

    def job(self, job_id: int) -> JobView:
        with self.database.transaction() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise LookupError(f"unknown job {job_id}")
            return JobView(
                id=job.id,
                tenant_id=job.tenant_id,
                kind=job.kind,
                status=job.status,
                attempts=job.attempts,
                max_attempts=job.max_attempts,
                last_error=job.last_error,
                superseded_by=job.superseded_by,
            )

    def status(self) -> FleetSummary:
        with self.database.transaction() as session:
            return Registry(session).fleet_summary()

    # Helpers

    def _measure(self, plan: PlanName) -> None:
        """Plan what `plan` consumes before the transaction (it takes a second or two)."""
        with self.database.transaction() as session:
            placing = cells_exist(session)
        if placing:
            plan_consumption(plan)

    def _change_spec(
        self,
        registry: Registry,
        *,
        files: _StackFileChanges,
        tenant: Tenant,
        current: TenantSpec,
        spec: TenantSpec,
        actor: str,
        reason: str,
    ) -> Accepted:
        target = next_state(
            tenant.id, TenantState(tenant.state), Action.UPDATE, suspended=current.suspended
        )
        if spec == current:
            return Accepted(
                tenant_id=tenant.id,
                action="update",
                state=registry.display_state(tenant),
                spec_version=tenant.spec_version,
                job_id=None,
                superseded_jobs=[],
                message="no change: the desired spec is already this",
            )
        if spec.plan != current.plan:
            with _refused_placement():
                replan(registry.session, tenant.id, spec.plan)
        tenant.state = target
        registry.add_spec_version(tenant, spec, actor=actor, reason=reason, at=self.clock())
        files.write(spec)
        return self._queue(
            registry,
            tenant,
            JobKind.UPDATE,
            actor=actor,
            action="update",
            message=f"{reason}: {', '.join(_changed_fields(current, spec))}",
        )

    def _set_suspended(
        self,
        tenant_id: str,
        *,
        suspended: bool,
        action: Action,
        kind: JobKind,
        actor: str,
        reason: str,
    ) -> Accepted:
        with self._use_case() as (registry, files):
            tenant = registry.tenant(tenant_id, for_update=True)
            current = registry.spec(tenant_id)
            tenant.state = next_state(
                tenant_id, TenantState(tenant.state), action, suspended=current.suspended
            )
            spec = _validate({**current.model_dump(mode="json"), "suspended": suspended})
            registry.add_spec_version(tenant, spec, actor=actor, reason=reason, at=self.clock())
            files.write(spec)
            low, desired, high = spec.effective_capacity
            capacity = (
                "compute to zero, data kept"
                if suspended
                else f"capacity min/desired/max {low}/{desired}/{high}"
            )
            return self._queue(
                registry,
                tenant,
                kind,
                actor=actor,
                action=action.value,
                message=f"{reason}: {capacity}",
            )

    def _queue(
        self,
        registry: Registry,
        tenant: Tenant,
        kind: JobKind,
        *,
        actor: str,
        action: str,
        message: str,
        purge: bool = False,
    ) -> Accepted:
        job, superseded = self.queue.enqueue(
            registry.session,
            tenant.id,
            kind,
            spec_version=tenant.spec_version,
            actor=actor,
            purge=purge,
        )
        if superseded:
            message += f"; supersedes queued job(s) {', '.join(map(str, superseded))}"
        message += f"; job {job.id} queued"
        registry.record_request(
            tenant.id,
            action,
            actor=actor,
            spec_version=tenant.spec_version,
            message=message,
            job_id=job.id,
            at=self.clock(),
        )
        return Accepted(
            tenant_id=tenant.id,
            action=action,
            state=registry.display_state(tenant),
            spec_version=tenant.spec_version,
            job_id=job.id,
            superseded_jobs=superseded,
            message=message,
        )

    def _view(self, registry: Registry, tenant: Tenant) -> TenantView:
        session: Session = registry.session
        last = registry.last_run(tenant.id)
        last_up = session.scalars(
            select(Operation)
            .where(
                Operation.tenant_id == tenant.id,
                Operation.status == "succeeded",
                Operation.mode.is_not(None),
                Operation.action.not_in(
                    [JobKind.PREVIEW.value, JobKind.REFRESH.value, JobKind.DRIFT.value]
                ),
            )
            .order_by(Operation.id.desc())
            .limit(1)
        ).one_or_none()
        pending = session.scalars(
            select(Job)
            .where(
                Job.tenant_id == tenant.id,
                Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
            )
            .order_by(Job.id)
        )
        return TenantView(
            tenant_id=tenant.id,
            display_name=tenant.display_name,
            plan=tenant.plan,
            state=tenant.state,
            display_state=registry.display_state(tenant),
            last_run_mode=last.mode if last else None,
            cidr=tenant.cidr,
            spec_version=tenant.spec_version,
            last_error=tenant.last_error,
            created_at=tenant.created_at,
            updated_at=tenant.updated_at,
            spec=registry.spec(tenant.id).model_dump(mode="json", exclude_defaults=True),
            outputs=dict(last_up.outputs) if last_up else {},
            retained=list(last_up.retained) if last_up else [],
            pending_jobs=[
                {"id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts}
                for j in pending
            ],
        )


def _merged_spec(
    registry: Registry, tenant_id: str, changes: Mapping[str, Any]
) -> tuple[TenantSpec, TenantSpec]:
    """The current desired spec and the one `changes` (a merge patch) make of it."""
    current = registry.spec(tenant_id)
    _refuse_a_move(current, changes)
    merged = _merge(current.model_dump(mode="json", exclude_defaults=True), changes)
    return current, _validate(merged)


COMPONENT_PREFIX = "tenants:index:"


def _validate(data: Mapping[str, Any]) -> TenantSpec:
    try:
        return TenantSpec.model_validate(data)
    except ValidationError as error:
        raise InvalidSpecError(format_validation_error(error)) from None


def _with_plan(current: TenantSpec, plan: PlanName) -> TenantSpec:
    try:
        return current.with_plan(plan)
    except ValidationError as error:
        raise InvalidSpecError(format_validation_error(error)) from None


_RETRY_ACTIONS: dict[JobKind, Action] = {
    **{kind: Action.UP for kind in APPLY_KINDS},
    JobKind.DEPROVISION: Action.DEPROVISION,
    JobKind.PREVIEW: Action.PREVIEW,
    JobKind.REFRESH: Action.REFRESH,
}
"""The lifecycle request a retry of each kind of job makes."""


_MOVE = (
    "because its data, keys and network live there. Moving a tenant means creating a new "
    "tenant in the target region, migrating its data, then retiring this one"
)
FIXED_FOR_LIFE: dict[str, str] = {
    "tenant_id": "the tenant id never changes",
    "region": f"a tenant's region is fixed for its life, {_MOVE}",
    "residency": f"a tenant's residency is fixed for its life, {_MOVE}",
    "network.cidr": (
        "the control plane allocated it and other tenants' networks are planned around it"
    ),
    "cell": "a tenant's cell (its AWS account) is fixed for its life, like its region",
    "isolation": "a tenant's isolation is fixed for its life (a silo has its own account)",
}
"""Spec fields (dotted paths) a tenant keeps for its whole life, and why: every way a spec
changes (an update, a synced stack file) is checked against this one table."""


def _refuse_a_move(
    current: TenantSpec, wanted: Mapping[str, Any], *, where: str = "request"
) -> None:
    """`wanted` (a merge patch or a whole spec) may repeat a fixed field, never change it."""
    now = current.model_dump(mode="json")
    for path, why in FIXED_FOR_LIFE.items():
        asked, value = _at(wanted, path)
        was = _at(now, path)[1]
        if asked and value != was:
            raise SpecChangeError(
                f"{path} cannot be updated (from {clip(repr(was), 40)} to "
                f"{clip(repr(value), 40)} in the {where}): {why}"
            )


def _at(document: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Whether the dotted `path` is in `document`, and its value there."""
    value: Any = document
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return False, None
        value = value[key]
    return True, value


@contextmanager
def _refused_placement() -> Iterator[None]:
    try:
        yield
    except PlacementError as error:
        raise PlacementRefusedError(str(error)) from None


def _dump(cell: CellPlacement | None) -> dict[str, Any] | None:
    return cell.model_dump(mode="json", exclude_none=True) if cell is not None else None


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied; nested mappings merge, `None` removes, anything else
    replaces (JSON merge patch, RFC 7396)."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            existing = merged.get(key)
            merged[key] = _merge(existing if isinstance(existing, dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _changed_fields(before: TenantSpec, after: TenantSpec) -> list[str]:
    """Dotted paths whose value differs (for the audit log)."""
    paths: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{prefix}{key}.")
        elif a != b:
            paths.append(f"{prefix.rstrip('.')}={b!r}")

    walk(before.model_dump(mode="json"), after.model_dump(mode="json"), "")
    return paths


def _operation_view(operation: Operation, registry: Registry | None) -> OperationView:
    return OperationView(
        id=operation.id,
        action=operation.action,
        actor=operation.actor,
        mode=operation.mode,
        status=operation.status,
        spec_version=operation.spec_version,
        started_at=operation.started_at,
        finished_at=operation.finished_at,
        message=operation.message,
        error=operation.error,
        changes=dict(operation.changes),
        outputs=dict(operation.outputs),
        retained=list(operation.retained),
        policy_violations=list(operation.policy_violations),
        resource_count=operation.resource_count,
        job_id=operation.job_id,
        events=[e.message for e in registry.events(operation.id)] if registry else [],
    )
