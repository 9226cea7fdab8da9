"""Deploys tenant stacks with the Pulumi Automation API.

Layout under the data directory:

    workspaces/<tenant>/Pulumi.yaml            project settings from the repo's Pulumi.yaml,
                                               `main` pointing at the repo (the real program)
    workspaces/<tenant>/Pulumi.<tenant>.yaml   stack config written from the TenantSpec
    state/                                     the default `file://` backend

Each tenant gets its own workspace directory because the CLI records the selected stack per
project directory: two operations selecting stacks in one directory at once corrupt it.
The program itself is not copied: `main` is the absolute path of the repository, so the
workspace runs the same `__main__.py` the GitOps path (`pulumi up -s <tenant>`) runs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import yaml
from pulumi import automation as auto

from components.spec import TenantSpec
from components.stack_config import ENDPOINT_KEY, SESSION_KEY, SPEC_KEY
from control_plane.files import private_dir, write_private
from control_plane.registry.runs import (
    PROVIDER_TYPE_PREFIX,
    DriftedResource,
    RunMode,
    RunResource,
    RunResult,
    StackOperation,
    scalar_outputs,
)
from control_plane.runners import sandbox
from control_plane.runners.base import (
    UNFENCED,
    EventSink,
    Fence,
    RunnerError,
    StackLocked,
    session_name,
)
from control_plane.runners.retention import drop_from_state, plan_retention, unprotect_all

REPO_ROOT = Path(__file__).resolve().parents[2]

logger = logging.getLogger(__name__)

LOCAL_PASSPHRASE = "tenants-local-sandbox"
"""Secrets passphrase of the local moto sandbox (default file backend, sandbox running).

It is public, so it protects nothing: only stacks deployed into the sandbox may use it.
Everywhere else the passphrase comes from the environment (PULUMI_CONFIG_PASSPHRASE or
PULUMI_CONFIG_PASSPHRASE_FILE), or the backend is Pulumi Cloud, whose stacks use the
service's own secrets provider.
"""
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
SERVICE_BACKEND_SCHEMES = ("https://", "http://")
"""Pulumi Cloud (or a self-hosted service): stack secrets use the service's provider."""

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
LOCK_MESSAGE = "currently locked"
# CommandError's text: "code: 255", then "stdout: <first line>...", "stderr: <first line>...".
_STREAM_PREFIX = re.compile(r"^(stdout|stderr):\s*")
_EXIT_CODE_LINE = re.compile(r"^code: -?\d+$")
_SECRETS_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")
PROVIDER_PACKAGES = {"aws": "pulumi-aws", "random": "pulumi-random"}
"""Provider plugin -> the SDK package whose installed version pins it."""
_NOT_DRIFT_OPS = frozenset({"same", "read"})


class WorkspaceLayout:
    """Where one data directory keeps workspaces and the default state backend."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()

    def workspace_dir(self, tenant: str) -> Path:
        return self.data_dir / "workspaces" / tenant

    def project_file(self, tenant: str) -> Path:
        return self.workspace_dir(tenant) / "Pulumi.yaml"

    def stack_file(self, tenant: str) -> Path:
        return self.workspace_dir(tenant) / f"Pulumi.{tenant}.yaml"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def default_backend_url(self) -> str:
        return self.state_dir.as_uri()


def project_settings(repo_root: Path) -> dict[str, Any]:
    """The repo's Pulumi.yaml, re-rooted so a workspace elsewhere runs the repo's program."""
    source = repo_root / "Pulumi.yaml"
    settings = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(settings, dict) or "name" not in settings or "runtime" not in settings:
        raise RunnerError(f"{source} is not a Pulumi project file (needs `name` and `runtime`)")
    # Stack config lives next to the workspace's project file, not in the repo's stacks/.
    settings.pop("stackConfigDir", None)
    main = Path(settings.get("main", "."))
    settings["main"] = str(main if main.is_absolute() else (repo_root / main).resolve())
    runtime = settings["runtime"]
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    virtualenv = options.get("virtualenv")
    if virtualenv is not None and not Path(virtualenv).is_absolute():
        options["virtualenv"] = str((repo_root / virtualenv).resolve())
    return settings


def stack_config(spec: TenantSpec, aws_endpoint: str | None) -> dict[str, Any]:
    """The stack config of one tenant: its spec as an object, the session name its provider
    assumes the cell's role with, and the sandbox if one runs."""
    config: dict[str, Any] = {
        SPEC_KEY: spec.model_dump(mode="json", exclude_defaults=True),
        SESSION_KEY: session_name(spec),
    }
    if aws_endpoint is not None:
        config[ENDPOINT_KEY] = aws_endpoint
    return config


def write_project(layout: WorkspaceLayout, tenant: str, settings: Mapping[str, Any]) -> Path:
    directory = private_dir(layout.workspace_dir(tenant))
    private_dir(layout.state_dir)
    write_private(layout.project_file(tenant), yaml.safe_dump(dict(settings), sort_keys=False))
    return directory


def write_stack_config(path: Path, config: Mapping[str, Any]) -> None:
    """Replace the stack's config, keeping the secrets settings `pulumi stack init` wrote."""
    existing: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            existing = loaded
    document = {key: existing[key] for key in _SECRETS_KEYS if key in existing}
    document["config"] = dict(config)
    write_private(path, yaml.safe_dump(document, sort_keys=False))


def workspace_env(
    backend_url: str | None,
    layout: WorkspaceLayout,
    environ: Mapping[str, str],
    *,
    sandbox: bool,
) -> dict[str, str]:
    """Environment of every pulumi command: the state backend and the secrets passphrase.

    Raises `RunnerError` when stack secrets would have no passphrase: the public sandbox
    passphrase is given only to the default local backend while the sandbox runs.
    """
    url = backend_url or layout.default_backend_url
    env = {"PULUMI_BACKEND_URL": url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    if any(name in environ for name in PASSPHRASE_VARIABLES):
        return env  # the CLI inherits the caller's environment
    if url.startswith(SERVICE_BACKEND_SCHEMES):
        return env
    if backend_url is None and sandbox:
        env["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
        return env
    raise RunnerError(
        f"no secrets passphrase for the state backend {url}: set PULUMI_CONFIG_PASSPHRASE "
        "(or PULUMI_CONFIG_PASSPHRASE_FILE); a built-in passphrase is used only for the "
        "local sandbox (`tenantctl sandbox`) on the default backend"
    )


def engine_message(error: BaseException) -> str:
    """The engine's own error lines out of a CommandError's text (code, stdout, stderr)."""
    lines = [
        _STREAM_PREFIX.sub("", line.strip())
        for line in str(error).splitlines()
        if line.strip() and not _EXIT_CODE_LINE.match(line.strip())
    ]
    errors = [line for line in lines if "error:" in line.lower()]
    if errors:
        return "\n".join(dict.fromkeys(errors))
    return "\n".join(lines[-5:]) or type(error).__name__


def classify_error(error: auto.CommandError, context: str) -> RunnerError:
    """Lock conflicts are retried later; a create-or-select race too; the rest is a failure."""
    message = engine_message(error)
    if isinstance(error, auto.ConcurrentUpdateError) or LOCK_MESSAGE in str(error):
        return StackLocked(f"{context}: the stack is locked by another update: {message}")
    if isinstance(error, auto.StackAlreadyExistsError):
        return RunnerError(
            f"{context}: the stack was created concurrently: {message}", retryable=True
        )
    return RunnerError(f"{context}: {message}")


def change_counts(op_map: Mapping[Any, int] | None) -> dict[str, int]:
    """Engine op counts keyed by op name (`create`, `same`, ...), without the root stack."""
    counts: dict[str, int] = {}
    for op, count in (op_map or {}).items():
        name = op.value if isinstance(op, Enum) else str(op)
        counts[name] = counts.get(name, 0) + int(count)
    return counts


def _urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def format_event(event: auto.EngineEvent) -> str | None:
    """One line for the operation log, or None for events not worth a line."""
    if event.resource_pre_event is not None:
        step = event.resource_pre_event.metadata
        op = step.op.value if isinstance(step.op, Enum) else str(step.op)
        if op == "same":
            return None
        return f"{op} {step.type} {_urn_name(step.urn)}"
    if event.res_op_failed_event is not None:
        step = event.res_op_failed_event.metadata
        op = step.op.value if isinstance(step.op, Enum) else str(step.op)
        return f"failed {op} {step.type} {_urn_name(step.urn)}"
    if event.diagnostic_event is not None:
        diag = event.diagnostic_event
        message = diag.message.strip()
        if diag.ephemeral or not message or diag.severity == "debug":
            return None
        where = f" {_urn_name(diag.urn)}" if diag.urn else ""
        return f"{diag.severity}{where}: {message}"
    if event.policy_event is not None:
        policy = event.policy_event
        where = f" {_urn_name(policy.resource_urn)}" if policy.resource_urn else ""
        return (
            f"policy {policy.enforcement_level} {policy.policy_pack_name}/"
            f"{policy.policy_name}{where}: {policy.message.strip()}"
        )
    if event.summary_event is not None:
        summary = event.summary_event
        counts = " ".join(f"{k}={v}" for k, v in change_counts(summary.resource_changes).items())
        return f"summary {counts or 'no changes'} in {summary.duration_seconds}s"
    if event.cancel_event is not None:
        return "cancelled"
    if event.stdout_event is not None:
        return event.stdout_event.message.strip() or None
    return None


def mandatory_violation(event: auto.EngineEvent) -> str | None:
    """The message of a policy event that blocks the operation."""
    policy = event.policy_event
    if policy is None or policy.enforcement_level != "mandatory":
        return None
    where = f" ({_urn_name(policy.resource_urn)})" if policy.resource_urn else ""
    return f"{policy.policy_name}{where}: {policy.message.strip()}"


def deployed_resource_count(deployment: Mapping[str, Any] | None) -> int:
    resources = (deployment or {}).get("resources") or []
    return sum(1 for r in resources if r.get("type") != ROOT_STACK_TYPE)


def deployed_inventory(deployment: Mapping[str, Any] | None) -> list[RunResource]:
    """The cloud resources in a stack's state (no root stack, components or providers);
    outputs the engine keeps secret are masked."""
    return [
        RunResource(
            urn=r["urn"],
            type=r["type"],
            name=_urn_name(r["urn"]),
            id=r.get("id") or None,
            outputs=scalar_outputs(
                r.get("outputs") or {}, secret=r.get("additionalSecretOutputs") or ()
            ),
        )
        for r in (deployment or {}).get("resources") or []
        if r.get("custom") and not str(r.get("type", "")).startswith(PROVIDER_TYPE_PREFIX)
    ]


def drifted_resource(event: auto.EngineEvent) -> DriftedResource | None:
    """The resource a `preview_refresh` event shows drifted, or None.

    A refresh step reports `refresh` with the properties that differ (or, as the engine
    summarises it, `update` for a changed resource and `delete` for one gone from the
    cloud); `same` and `read` are not drift, nor are the stack and its providers.
    """
    holder = event.res_outputs_event or event.resource_pre_event
    if holder is None:
        return None
    step = holder.metadata
    if step.type == ROOT_STACK_TYPE or step.type.startswith(PROVIDER_TYPE_PREFIX):
        return None
    op = step.op.value if isinstance(step.op, Enum) else str(step.op)
    properties = tuple(sorted(set(step.diffs or ()) | set(step.detailed_diff or {})))
    if op in _NOT_DRIFT_OPS or (op == "refresh" and not properties):
        return None
    return DriftedResource(
        urn=step.urn,
        type=step.type,
        name=_urn_name(step.urn),
        change="update" if op == "refresh" else op,
        properties=properties,
    )


class PluginInstaller(Protocol):
    """What installing plugins needs of a workspace (`auto.LocalWorkspace` has it)."""

    def install_plugin(self, name: str, version: str, kind: str = "resource") -> None: ...


def provider_plugins() -> dict[str, str]:
    """Each provider plugin the program uses, at the version its installed SDK pins."""
    return {name: f"v{metadata.version(package)}" for name, package in PROVIDER_PACKAGES.items()}


def install_provider_plugins(workspace: PluginInstaller) -> list[str]:
    """Install the pinned provider plugins (the CLI skips one already there); `name version`
    of each."""
    installed = []
    for name, version in provider_plugins().items():
        try:
            workspace.install_plugin(name, version)
        except auto.CommandError as exc:
            raise RunnerError(
                f"installing the {name} provider plugin {version} failed: {engine_message(exc)}"
            ) from exc
        installed.append(f"{name} {version}")
    return installed


class _DriftCollector:
    """Relays events to the operation log and keeps the drifted resources, one per URN."""

    def __init__(self, relay: Callable[[auto.EngineEvent], None]) -> None:
        self._relay = relay
        self.found: dict[str, DriftedResource] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        self._relay(event)
        resource = drifted_resource(event)
        if resource is not None:
            self.found[resource.urn] = resource


class _EventRelay:
    """Formats engine events into the sink and collects mandatory policy violations."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.violations: list[str] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        violation = mandatory_violation(event)
        if violation is not None:
            self.violations.append(violation)
        line = format_event(event)
        if line is not None:
            self._sink(line)


class AutomationRunner:
    """Runs `up`, `preview`, `refresh`, drift checks, `destroy` and `outputs` through the
    pulumi CLI."""

    mode = RunMode.DEPLOY

    def __init__(
        self,
        data_dir: Path,
        *,
        backend_url: str | None = None,
        repo_root: Path = REPO_ROOT,
        aws_endpoint: str | None = None,
        environ: Mapping[str, str] | None = None,
        policy_config: Path | None = None,
    ) -> None:
        """`aws_endpoint` overrides the sandbox recorded in `data_dir` (see `tenantctl sandbox`);
        `policy_config` is the pack configuration file every `up` and `preview` gets."""
        self.layout = WorkspaceLayout(data_dir)
        self.policy_config = policy_config.resolve() if policy_config is not None else None
        self.backend_url = backend_url
        self._repo_root = repo_root.resolve()
        self._aws_endpoint = aws_endpoint
        self._environ = os.environ if environ is None else environ

    @property
    def policy_pack(self) -> Path:
        return self._repo_root / "policies"

    @property
    def policy_pack_configs(self) -> list[str] | None:
        """The pack's configuration file, when one is set (the gate's `--policy-config`)."""
        return None if self.policy_config is None else [str(self.policy_config)]

    def install_plugins(self) -> list[str]:
        """Install the provider plugins at the versions the installed SDKs pin, once at
        start-up, so the first `up` of each tenant does not download them mid-run."""
        workspace = auto.LocalWorkspace(env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true"})
        return install_provider_plugins(workspace)

    def _endpoint(self) -> str | None:
        if self._aws_endpoint is not None:
            return self._aws_endpoint
        try:
            return sandbox.active_endpoint(self.layout.data_dir)
        except sandbox.SandboxError as exc:
            raise RunnerError(str(exc)) from exc

    def _workspace(self, tenant: str, endpoint: str | None) -> auto.LocalWorkspace:
        # The environment first: a missing passphrase fails before anything is written.
        env = workspace_env(
            self.backend_url, self.layout, self._environ, sandbox=endpoint is not None
        )
        directory = write_project(self.layout, tenant, project_settings(self._repo_root))
        return auto.LocalWorkspace(work_dir=str(directory), env_vars=env)

    def _stack(self, spec: TenantSpec) -> auto.Stack:
        endpoint = self._endpoint()
        workspace = self._workspace(spec.tenant_id, endpoint)
        stack = auto.Stack.create_or_select(spec.tenant_id, workspace)
        # After create_or_select: `stack init` writes the encryption salt into this file.
        write_stack_config(self.layout.stack_file(spec.tenant_id), stack_config(spec, endpoint))
        return stack

    @contextmanager
    def _engine(self, operation: StackOperation, tenant: str) -> Iterator[None]:
        try:
            yield
        except auto.CommandError as exc:
            raise classify_error(exc, f"{operation.value} {tenant}") from exc

    def up(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        relay = _EventRelay(on_event)
        try:
            with self._engine(StackOperation.UP, spec.tenant_id):
                stack = self._fenced_stack(spec, fence)
                with fence.watch(_canceller(stack, on_event)):
                    result = stack.up(
                        on_event=relay,
                        policy_packs=[str(self.policy_pack)],
                        policy_pack_configs=self.policy_pack_configs,
                    )
                state = stack.export_stack().deployment
        except RunnerError:
            if relay.violations:
                return self._refused(StackOperation.UP, relay.violations)
            raise
        return RunResult(
            operation=StackOperation.UP,
            mode=self.mode,
            changes=change_counts(result.summary.resource_changes),
            outputs=_plain_outputs(result.outputs),
            resource_count=deployed_resource_count(state),
            resources=deployed_inventory(state),
        )

    def preview(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        relay = _EventRelay(on_event)
        try:
            with self._engine(StackOperation.PREVIEW, spec.tenant_id):
                result = self._fenced_stack(spec, fence).preview(
                    on_event=relay,
                    policy_packs=[str(self.policy_pack)],
                    policy_pack_configs=self.policy_pack_configs,
                )
        except RunnerError:
            if relay.violations:
                return self._refused(StackOperation.PREVIEW, relay.violations)
            raise
        changes = change_counts(result.change_summary)
        after = sum(n for op, n in changes.items() if op not in ("delete", "discard"))
        return RunResult(
            operation=StackOperation.PREVIEW,
            mode=self.mode,
            changes=changes,
            policy_violations=relay.violations,
            # The change summary counts the root stack as one step.
            resource_count=max(after - 1, 0),
        )

    def refresh(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        relay = _EventRelay(on_event)
        with self._engine(StackOperation.REFRESH, spec.tenant_id):
            stack = self._fenced_stack(spec, fence)
            with fence.watch(_canceller(stack, on_event)):
                result = stack.refresh(on_event=relay)
            state = stack.export_stack().deployment
        return RunResult(
            operation=StackOperation.REFRESH,
            mode=self.mode,
            changes=change_counts(result.summary.resource_changes),
            resource_count=deployed_resource_count(state),
            resources=deployed_inventory(state),
        )

    def drift(self, spec: TenantSpec, on_event: EventSink, fence: Fence = UNFENCED) -> RunResult:
        """`preview_refresh`: what a refresh would change in the state, read-only (a real
        `refresh` writes the cloud's values into the state and must not be a check)."""
        collector = _DriftCollector(_EventRelay(on_event))
        with self._engine(StackOperation.DRIFT, spec.tenant_id):
            result = self._fenced_stack(spec, fence).preview_refresh(on_event=collector)
        drifted = tuple(collector.found.values())
        on_event(f"drift: {len(drifted)} resources drifted")
        changes = change_counts(result.change_summary)
        return RunResult(
            operation=StackOperation.DRIFT,
            mode=self.mode,
            changes=changes,
            # The change summary counts the root stack as one step.
            resource_count=max(sum(changes.values()) - 1, 0),
            drifted=drifted,
        )

    def destroy(
        self, spec: TenantSpec, on_event: EventSink, *, purge: bool, fence: Fence = UNFENCED
    ) -> RunResult:
        """Destroy the stack; data stores stay in the cloud unless `purge`."""
        relay = _EventRelay(on_event)
        retained: list[str] = []
        try:
            with self._engine(StackOperation.DESTROY, spec.tenant_id):
                stack = self._fenced_stack(spec, fence)
                exported = stack.export_stack()
                deployment = exported.deployment or {}
                if purge:
                    edited = unprotect_all(deployment)
                else:
                    retention = plan_retention(deployment.get("resources") or [])
                    retained = retention.retained
                    for resource in retention.kept_with_data:
                        on_event(f"retain {resource['type']} {_urn_name(resource['urn'])}")
                    edited = drop_from_state(deployment, retention.kept_urns)
                stack.import_stack(auto.Deployment(version=exported.version, deployment=edited))
                for line in retained:
                    on_event(f"retained {line}")
                with fence.watch(_canceller(stack, on_event)):
                    result = stack.destroy(on_event=relay)
        except RunnerError as exc:
            if not retained:
                raise
            # The data already left the state: say so, or it would look lost.
            raise RunnerError(
                f"{exc}\nretained (removed from the stack's state): {', '.join(retained)}",
                retryable=exc.retryable,
            ) from exc
        return RunResult(
            operation=StackOperation.DESTROY,
            mode=self.mode,
            changes=change_counts(result.summary.resource_changes),
            retained=retained,
            resources=[],
        )

    def outputs(self, tenant_id: str) -> dict[str, Any]:
        with self._engine(StackOperation.OUTPUTS, tenant_id):
            workspace = self._workspace(tenant_id, self._endpoint())
            try:
                stack = auto.Stack.select(tenant_id, workspace)
            except auto.StackNotFoundError as exc:
                raise RunnerError(f"tenant {tenant_id!r} has no deployed stack") from exc
            return _plain_outputs(stack.outputs())

    def _fenced_stack(self, spec: TenantSpec, fence: Fence) -> auto.Stack:
        """The tenant's stack, if the run still holds its job (a paused worker that lost it
        must not even rewrite the workspace another worker now uses)."""
        fence.check()
        return self._stack(spec)

    def _refused(self, operation: StackOperation, violations: list[str]) -> RunResult:
        return RunResult(operation=operation, mode=self.mode, policy_violations=violations)


def _canceller(stack: auto.Stack, on_event: EventSink) -> Callable[[], None]:
    """Cancels the stack's update in progress: the run lost its job to another worker, and
    the update must not keep changing the cloud under the new owner's feet."""

    def cancel() -> None:
        on_event("lease lost to another worker: cancelling the update in progress")
        try:
            stack.cancel()
        except auto.CommandError as exc:
            # Nothing to cancel any more (it just finished): the result is fenced anyway.
            logger.warning("pulumi cancel %s: %s", stack.name, engine_message(exc))

    return cancel


def _plain_outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    """Stack outputs as plain values; secrets stay masked in logs and the registry."""
    return {name: "[secret]" if o.secret else o.value for name, o in outputs.items()}
