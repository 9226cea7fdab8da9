"""Offline plans: run the real `__main__.py` for one stack under the Pulumi SDK's mocks.

No CLI, no cloud and no network: the mocks answer every registration with realistic ids and
ARNs (in the tenant's region and a fixed account id), and compute `tagsAll` from the
provider's default tags the way the AWS provider does, so the policy gate sees what a
preview would show. The result is a `TenantPlan`: data, never a deployment.

Mocks are process-wide state in the SDK, so plans in one process run one after another;
`planner.batch` spreads a fleet across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import importlib
import json
import logging
import multiprocessing
import multiprocessing.context
import runpy
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from importlib import metadata
from multiprocessing import forkserver
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pulumi.runtime
import yaml
from google.protobuf import struct_pb2
from pulumi import _types as sdk_types
from pulumi.output import _OutputData as OutputData
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import provider_pb2, resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.spec import TenantSpec
from components.stack_config import PROJECT_NAME, InvalidStackError, engine_config
from planner.model import PlannedResource, TenantPlan
from planner.stacks import PROJECT_ROOT, StackFiles, stack_name

PROGRAM = PROJECT_ROOT / "__main__.py"
MANAGEMENT_PROGRAM = PROJECT_ROOT / "management" / "__main__.py"
MANAGEMENT_PROJECT = "tenants-management"
"""The management stack's program and project (silo accounts in AWS Organizations)."""
ACCOUNT_ID = "123456789012"
"""The account the mocks pretend to be (a documentation account id)."""

ResultT = TypeVar("ResultT")


class PlanError(RuntimeError):
    """The program failed for a reason other than an invalid spec."""


def plan_spec(
    spec: TenantSpec, aws_endpoint: str | None = None, role_session_name: str | None = None
) -> TenantPlan:
    """Plan the bundle of a validated spec."""
    return plan_config(spec.tenant_id, engine_config(spec, aws_endpoint, role_session_name))


def plan_stack_file(path: Path) -> TenantPlan:
    """Plan one `stacks/Pulumi.<tenant>.yaml`; `InvalidStackError` lists every bad field."""
    tenant = stack_name(path)
    files = StackFiles(path.parent)
    spec = files.read_spec(tenant)
    return plan_spec(spec)


def plan_management_stack(path: Path) -> TenantPlan:
    """Plan a management stack file (`stacks/management/Pulumi.<stack>.yaml`): silo accounts."""
    document = yaml.safe_load(path.read_text()) or {}
    raw = document.get("config") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise InvalidStackError(stack_name(path), "the file has no `config:` mapping")
    config = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return plan_config(
        stack_name(path), config, program=MANAGEMENT_PROGRAM, project=MANAGEMENT_PROJECT
    )


PLANNER_LOCK = threading.RLock()
"""Held while a plan runs: the SDK's mocks and config are process-wide, so two plans at
once in one process would mix their resources. Callers that must keep a plan and what
they do with it together (e.g. a policy check under the same mocks) may hold it too."""


def plan_config(
    stack: str,
    config: dict[str, str],
    *,
    program: Path = PROGRAM,
    project: str = PROJECT_NAME,
) -> TenantPlan:
    """Run the program for `stack` with engine-style config (full keys, JSON string values).

    Safe from any thread: plans in one process run one at a time.
    """
    with (
        PLANNER_LOCK,
        without_source_positions(),
        _outputs_resolved_at_once(),
        _type_hints_remembered(),
        _planning_loop(),
    ):
        return _plan_config(stack, config, program, project)


@contextlib.contextmanager
def without_source_positions() -> Iterator[None]:
    """Skip the SDK's per-resource stack walk while planning.

    The engine uses it only to point its diagnostics at source lines; a plan never shows
    them, and walking a program's deep stack for every resource costs more than a third of
    the whole evaluation.
    """
    original = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = _empty_stack_trace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


def _empty_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


CHECKED_SDK_RELEASES = frozenset({"3.272.0"})
"""pulumi releases whose output and URN internals `_outputs_resolved_at_once` replaces were
compared with the SDK's own path (tests/planner/test_planning_runtime.py)."""
SDK_INTERNALS_CHECKED = metadata.version("pulumi") in CHECKED_SDK_RELEASES


@contextlib.contextmanager
def _outputs_resolved_at_once() -> Iterator[None]:
    """Give each output property of a registered resource one future, not four and a task.

    The SDK makes every output property of every resource (dozens per resource, most never
    read) from four futures (value, known, secret, dependencies) and a task that awaits
    them in turn; creating and stepping those is a fifth of a plan. Here the registration's
    answer resolves a single future with the same data the task would have assembled, so
    what a program awaits, and when, is unchanged.

    These are SDK internals, so they are replaced only on the SDK releases the planning
    runtime tests compared with the SDK's own path; any other release plans the SDK's way.
    """
    if not SDK_INTERNALS_CHECKED:
        yield
        return
    original = rpc.transfer_properties, sdk_resource.create_urn
    rpc.transfer_properties, sdk_resource.create_urn = _transfer_properties, _create_urn
    try:
        yield
    finally:
        rpc.transfer_properties, sdk_resource.create_urn = original


@contextlib.contextmanager
def _type_hints_remembered() -> Iterator[None]:
    """Remember the SDK's answers about input types across registrations.

    Serializing every input property asks `unwrap_type` and `_is_union_type` about its
    annotated type, the same few hundred types again and again; both are pure functions
    of the type. Bound to the checked SDK releases like `_outputs_resolved_at_once`.
    """
    if not SDK_INTERNALS_CHECKED:
        yield
        return
    original = sdk_types.unwrap_type, sdk_types._is_union_type
    sdk_types.unwrap_type, sdk_types._is_union_type = _REMEMBERED_TYPE_HELPERS
    try:
        yield
    finally:
        sdk_types.unwrap_type, sdk_types._is_union_type = original


def _remembered(function: Callable[[Any], ResultT]) -> Callable[[Any], ResultT]:
    remembered = functools.lru_cache(maxsize=4096)(function)

    def answer(value: Any) -> ResultT:
        try:
            return remembered(value)
        except TypeError:  # an unhashable annotation: asked afresh
            return function(value)

    return answer


_REMEMBERED_TYPE_HELPERS: tuple[Any, Any] = (
    _remembered(sdk_types.unwrap_type),
    _remembered(sdk_types._is_union_type),
)


def _create_urn(
    name: Any,
    type_: Any,
    parent: Any = None,
    project: str | None = None,
    stack: str | None = None,
) -> pulumi.Output[str]:
    """`create_urn` in one step where the name and type are plain strings (every resource).

    The SDK's version joins three outputs and applies twice for each registration; the
    URN, and the parent's dependencies, secrecy and unknowns it carries, are the same.
    """
    if not isinstance(name, str) or not isinstance(type_, str):
        return _sdk_create_urn(name, type_, parent, project, stack)
    if parent is None:
        stack = runtime_settings.get_stack() if stack is None else stack
        project = runtime_settings.get_project() if project is None else project
        return pulumi.Output.from_input(f"urn:pulumi:{stack}::{project}::{type_}::{name}")
    if isinstance(parent, pulumi.Resource):
        parent_urn = parent.urn
    else:
        parent_urn = pulumi.Output.from_input(parent)
    return parent_urn.apply(lambda urn: f"{urn[: urn.rfind('::')]}${type_}::{name}")


_sdk_create_urn = sdk_resource.create_urn


def _transfer_properties(
    res: pulumi.Resource, props: pulumi.Inputs, custom: bool
) -> dict[str, rpc.Resolver]:
    """`rpc.transfer_properties` (same resolvers, same outputs), one future per output."""
    loop = asyncio.get_event_loop()
    resolvers: dict[str, rpc.Resolver] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue  # the SDK resolves these itself
        data: asyncio.Future[OutputData[Any]] = loop.create_future()
        resolvers[name] = functools.partial(_resolve_output, res, data)
        res.__dict__[name] = _untracked_output(data)
    return resolvers


def _untracked_output(data: asyncio.Future[OutputData[Any]]) -> pulumi.Output[Any]:
    """`Output._from_data` without entering the output in the program's set of outputs to
    wait for at its end: the registration settles `data` before its own call completes,
    and the program waits for every such call. Each tracked output costs a set entry, a
    done callback and a loop turn, for dozens of output properties per resource."""
    output: pulumi.Output[Any] = object.__new__(pulumi.Output)
    output._data = data
    return output


def _resolve_output(  # noqa: PLR0917 (the SDK's resolver signature)
    resource: pulumi.Resource,
    data: asyncio.Future[OutputData[Any]],
    value: Any,
    is_known: bool,
    is_secret: bool,
    deps: set[pulumi.Resource] | None,
    failed: Exception | None,
) -> None:
    if failed is not None:
        data.set_exception(failed)
        return
    resources = set(deps) if deps else set()
    resources.add(resource)
    data.set_result(
        OutputData(resources=resources, value=value, is_known=is_known, is_secret=is_secret)
    )


@contextlib.contextmanager
def _planning_loop() -> Iterator[None]:
    """The calling thread's planning loop as its current loop while a plan runs.

    The SDK awaits on the calling thread's loop: worker threads have none, and an
    `asyncio.run` elsewhere leaves the main thread with a closed one. The planning loop
    answers the SDK's executor calls at once, so it is kept apart from a loop the thread
    already had, which gets its place back afterwards.
    """
    try:
        previous: asyncio.AbstractEventLoop | None = (
            asyncio.get_event_loop_policy().get_event_loop()
        )
    except RuntimeError:
        previous = None
    loop: asyncio.AbstractEventLoop | None = getattr(_PLANNING_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _PLANNING_LOOPS.loop = loop
    loop.set_default_executor(_ANSWER_AT_ONCE)
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        _cancel_leftovers(loop)
        if previous is not None and previous is not loop and not previous.is_closed():
            asyncio.set_event_loop(previous)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed plan left running on the planning loop, and let it unwind.

    A program that fails stops its plan with registrations still pending (about a hundred
    tasks for a bundle); left on the loop, they would wait there for the life of the
    thread, holding the failed plan's resources.
    """
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


_PLANNING_LOOPS = threading.local()


class _AnswerAtOnce(ThreadPoolExecutor):
    """Runs what the SDK hands to its executor immediately, on the planning thread.

    The SDK sends every registration and invoke to a thread pool, because a real engine
    answers over gRPC. The mocks answer in microseconds: handing each call to a thread
    and back (a wake-up, a context switch, the interpreter lock twice) cost more than the
    answer itself. No thread is ever started.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., ResultT], /, *args: Any, **kwargs: Any) -> Future[ResultT]:
        future: Future[ResultT] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 (handed to the awaiting task)
            future.set_exception(error)
        return future


_ANSWER_AT_ONCE = _AnswerAtOnce()


def _plan_config(stack: str, config: dict[str, str], program: Path, project: str) -> TenantPlan:
    mocks = _PlanMocks()
    monitor = _RecordingMonitor(mocks)
    warnings = _WarningCollector()
    # A fresh root stack per plan: the SDK keeps the previous one otherwise.
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=True,
        logger=warnings.logger,
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(config)
    try:
        _sync_await(run_pulumi_func(functools.partial(_run_program, program)))
        root = runtime_settings.get_root_resource()
        exported = getattr(root, "outputs", {}) if root is not None else {}
        outputs = {name: _resolve(value) for name, value in exported.items()}
    except pulumi.RunError as error:
        raise InvalidStackError(stack, str(error).removeprefix(f"stack {stack!r}: ")) from None
    except Exception as error:
        raise PlanError(f"stack {stack!r}: the program failed: {error}") from error
    finally:
        # The root stack reaches every resource of the plan: let them go with it.
        runtime_settings.ROOT.set(None)
        # A failed program leaves its failed outputs for "the end of the program", and the
        # next plan in this process may be handed the same set: it would fail on them.
        with runtime_settings.SETTINGS.lock:
            runtime_settings.SETTINGS.outputs.clear()
    return TenantPlan(
        tenant=stack,
        plan=str(outputs.get("plan", "")),
        region=str(outputs.get("region", "")),
        resources=monitor.planned_resources(),
        stack_outputs=outputs,
        warnings=warnings.messages,
    )


def planner_pool(workers: int, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """A process pool whose workers start warm: the program's modules already imported.

    Not `fork`: after a plan the SDK leaves threads and held locks behind, and a child
    forked from such a process can hang. A fork server forks clean children from a process
    that has only imported the program (and `preload`).
    """
    context = _planner_server(preload)
    if context is None:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return ProcessPoolExecutor(workers, mp_context=context)


def start_planner_server(preload: Sequence[str] = ()) -> None:
    """Start the pool's fork server now, so that it imports the program while the caller
    is still reading stacks; `planner_pool` then forks its workers from it at once."""
    if _planner_server(preload) is not None:
        forkserver.ensure_running()


def _planner_server(preload: Sequence[str]) -> multiprocessing.context.ForkServerContext | None:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "components.bundle", *preload])
    return context


_heap_frozen = False


@contextlib.contextmanager
def batch_heap() -> Iterator[None]:
    """Plan one stack of a batch with the collector off, then collect its garbage once.

    A plan allocates about a million objects; while it runs, thousands of them are alive
    (resources, outputs, futures), and every automatic collection walked them again: a
    sixth of a plan's time. Off during the plan, one young collection after it, once the
    SDK no longer holds the plan, reclaims its cycles at a fraction of that cost.

    The first plan of a process leaves hundreds of thousands of long-lived objects
    (modules, the SDK's and the providers' type tables); they are frozen out of the
    collector's way for good. Measured by `benchmarks/fleet_gate.py --gc`.
    """
    global _heap_frozen  # noqa: PLW0603 (once per process)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _heap_frozen:
            _heap_frozen = True
            gc.collect()
            gc.freeze()
        else:
            gc.collect(1)
        if enabled:
            gc.enable()


def _run_program(program: Path) -> None:
    runpy.run_path(str(program), run_name="__main__")


def _resolve(value: Any) -> Any:
    return _sync_await(pulumi.Output.from_input(value).future())


class _WarningCollector(logging.Handler):
    """Keeps what the program logs at warning level or above."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        # A logger of its own, outside logging's registry: one registered per plan would
        # stay registered (and keep its handler) for the life of the process.
        # Its level too: with no parent, it would build a record for every debug message
        # the SDK logs, only for the handler to drop it.
        self.logger = logging.Logger("tenants.plan", logging.WARNING)
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping what a policy needs: parent, protect, provider."""

    def __init__(self, mocks: _PlanMocks) -> None:
        super().__init__(mocks)
        self._mocks = mocks
        self._records: list[PlannedResource] = []
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    # Both answers below are the SDK's `MockMonitor` ones, except that the mocks' state is
    # serialized without pumping the event loop: they run on the planning thread itself.

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        args = rpc.deserialize_properties(request.args)
        call = pulumi.runtime.MockCallArgs(request.tok, args, request.provider)
        result, failures = self._mocks.call(call)
        response = resource_pb2.ResourceInvokeResponse(
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures or ()]
        )
        getattr(response, "return").CopyFrom(_serialized(result))  # `return` is a keyword
        return response

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        resource_id, state = self._mocks.new_resource(
            pulumi.runtime.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        response = resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=_serialized(state)
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id or "", state)
        provider = request.provider.split("::")[-2] if request.provider else None
        with self._lock:
            self._names[urn] = request.name
            self._records.append(
                PlannedResource(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    id=resource_id or None,
                    parent=self._names.get(request.parent),
                    parent_urn=request.parent or None,
                    custom=bool(request.custom),
                    inputs=_redact(inputs),
                    outputs=_redact(state, secret_keys=_SECRET_OUTPUTS.get(request.type, ())),
                    provider=provider,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=tuple(request.dependencies),
                )
            )
        return response

    def planned_resources(self) -> list[PlannedResource]:
        with self._lock:
            return list(self._records)


def _serialized(values: dict[str, Any]) -> struct_pb2.Struct:
    """The SDK's serialization of plain values (the mocks' answers), run to completion.

    Plain values are never awaited on, so the coroutine finishes on its first step.
    """
    coroutine = rpc.serialize_properties(values, {})
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: struct_pb2.Struct = finished.value
        return result
    coroutine.close()
    raise PlanError("a mocked answer holds a value that must be awaited")


SECRET_PLACEHOLDER = "[secret]"
# Outputs the provider marks secret although no input was.
_SECRET_OUTPUTS = {"random:index/randomPassword:RandomPassword": ("result", "bcryptHash")}


def _redact(value: Any, secret_keys: tuple[str, ...] = ()) -> Any:
    """Replace secret values (the engine's secret envelopes) so a plan never shows them."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET_PLACEHOLDER
        return {k: SECRET_PLACEHOLDER if k in secret_keys else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode(), usedforsecurity=False).hexdigest()


# Physical id prefixes EC2 uses, by resource type.
_EC2_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/route:Route": "r-rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/vpnGateway:VpnGateway": "vgw-",
    "aws:ec2/customerGateway:CustomerGateway": "cgw-",
    "aws:ec2/vpnConnection:VpnConnection": "vpn-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
}
_EC2_ARN_KINDS = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "security-group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security-group",
    "aws:ec2/internetGateway:InternetGateway": "internet-gateway",
    "aws:ec2/natGateway:NatGateway": "natgateway",
    "aws:ec2/routeTable:RouteTable": "route-table",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpc-endpoint",
    "aws:ec2/flowLog:FlowLog": "vpc-flow-log",
    "aws:ec2/launchTemplate:LaunchTemplate": "launch-template",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security-group-rule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security-group-rule",
}


class _PlanMocks(pulumi.runtime.Mocks):
    """Answers registrations with realistic ids, ARNs and provider-computed tags."""

    def __init__(self) -> None:
        self._default_tags: dict[str, dict[str, str]] = {}
        self._regions: dict[str, str] = {}
        self._accounts: dict[str, str] = {}

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        provider_id = args.provider.rsplit("::", 1)[-1] if args.provider else ""
        region = self._regions.get(provider_id, "us-east-1")
        account = self._accounts.get(provider_id, ACCOUNT_ID)
        resource_id, extra = self._physical(
            args.typ, args.name, inputs, region, account, args.resource_id
        )
        state = {**inputs, **extra}
        if args.typ == "pulumi:providers:aws":
            self._regions[resource_id] = str(inputs.get("region", region))
            self._accounts[resource_id] = _provider_account(inputs)
            self._default_tags[resource_id] = _provider_default_tags(inputs)
        elif args.custom and _takes_default_tags(args.typ):
            state["tagsAll"] = {
                **self._default_tags.get(provider_id, {}),
                **(inputs.get("tags") or {}),
            }
        return (resource_id if args.custom else None), state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/tenants-planner",
                "userId": "AIDAPLANNERPLANNER01",
                "id": ACCOUNT_ID,
            }
            return identity, []
        if args.token == "aws:route53/getZone:getZone":
            zone = str(args.args.get("name", "")).rstrip(".")
            zone_id = "Z" + _digest("zone", zone)[:20].upper()
            return {
                "id": zone_id,
                "zoneId": zone_id,
                "name": zone,
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                "privateZone": False,
            }, []
        raise PlanError(f"the offline planner has no answer for invoke {args.token}")

    def _physical(  # noqa: PLR0917 (one call site, mirrors the registration)
        self,
        typ: str,
        name: str,
        inputs: dict[str, Any],
        region: str,
        account: str,
        resource_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A physical id and the provider-computed state of one resource."""
        h = _digest(typ, name)
        if typ in _EC2_PREFIXES:
            rid = _EC2_PREFIXES[typ] + h[:17]
            extra: dict[str, Any] = {}
            if typ in _EC2_ARN_KINDS:
                extra["arn"] = f"arn:aws:ec2:{region}:{account}:{_EC2_ARN_KINDS[typ]}/{rid}"
            if typ == "aws:ec2/launchTemplate:LaunchTemplate":
                extra |= {
                    "latestVersion": 1,
                    "defaultVersion": 1,
                    "name": f"{inputs.get('namePrefix', '')}{h[:8]}",
                }
            if typ == "aws:ec2/eip:Eip":
                extra["publicIp"] = f"203.0.113.{int(h[:2], 16) % 250 + 1}"
            if typ == "aws:ec2/vpnConnection:VpnConnection":
                # AWS's tunnel endpoints are public; documentation addresses stand in.
                extra |= {
                    f"tunnel{n}Address": f"198.51.100.{(int(h[:2], 16) + n) % 250 + 1}"
                    for n in (1, 2)
                }
            return rid, extra
        if typ == "aws:s3/bucket:Bucket":
            bucket = str(inputs.get("bucket") or f"{name}-{h[:8]}")
            return bucket, {
                "bucket": bucket,
                "arn": f"arn:aws:s3:::{bucket}",
                "bucketDomainName": f"{bucket}.s3.amazonaws.com",
                "region": region,
            }
        if typ == "aws:kms/key:Key":
            key_id = str(uuid.UUID(h[:32]))
            return key_id, {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
        if typ == "aws:kms/alias:Alias":
            alias = str(inputs.get("name"))
            return alias, {"arn": f"arn:aws:kms:{region}:{account}:{alias}"}
        if typ in (
            "aws:iam/role:Role",
            "aws:iam/policy:Policy",
            "aws:iam/instanceProfile:InstanceProfile",
        ):
            kind = {"aws:iam/role:Role": "role", "aws:iam/policy:Policy": "policy"}.get(
                typ, "instance-profile"
            )
            iam_name = str(inputs.get("name") or f"{name}-{h[:7]}")
            rid = f"arn:aws:iam::{account}:policy/{iam_name}" if kind == "policy" else iam_name
            return rid, {
                "name": iam_name,
                "arn": f"arn:aws:iam::{account}:{kind}/{iam_name}",
                "uniqueId": "AROA" + h[:17].upper(),
            }
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = str(inputs.get("name") or name)
            return group, {
                "name": group,
                "arn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
            }
        if typ == "aws:sns/topic:Topic":
            topic = str(inputs.get("name") or name)
            arn = f"arn:aws:sns:{region}:{account}:{topic}"
            return arn, {"name": topic, "arn": arn}
        if typ == "aws:secretsmanager/secret:Secret":
            secret = str(inputs.get("name") or name)
            arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-{h[:6]}"
            return arn, {"arn": arn, "name": secret}
        if typ == "aws:dynamodb/table:Table":
            table = str(inputs.get("name") or name)
            return table, {
                "name": table,
                "arn": f"arn:aws:dynamodb:{region}:{account}:table/{table}",
            }
        if typ == "aws:autoscaling/group:Group":
            group = str(inputs.get("name") or f"{inputs.get('namePrefix', name)}{h[:20]}")
            return group, {
                "name": group,
                "arn": (
                    f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:"
                    f"{uuid.UUID(h[:32])}:autoScalingGroupName/{group}"
                ),
            }
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            alarm = str(inputs.get("name") or name)
            return alarm, {"arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"}
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            board = str(inputs.get("dashboardName") or name)
            return board, {"dashboardArn": f"arn:aws:cloudwatch::{account}:dashboard/{board}"}
        if typ == "random:index/randomId:RandomId":
            length = int(inputs.get("byteLength", 4))
            hex_value = (h * 4)[: length * 2]
            return hex_value, {"hex": hex_value, "dec": str(int(hex_value, 16))}
        if typ == "random:index/randomPassword:RandomPassword":
            length = int(inputs.get("length", 16))
            return "none", {"result": (h * 4)[:length]}
        if typ == "aws:organizations/account:Account":
            # An imported account keeps its id; a new one gets a 12-digit id of its own.
            member = resource_id or str(int(h[:12], 16) % 10**12).zfill(12)
            return member, {"arn": f"arn:aws:organizations::{account}:account/o-planner/{member}"}
        if typ.startswith("pulumi:providers:"):
            return f"{name}-{h[:8]}", {}
        addon = _addon_physical(typ, name, inputs, region, h)
        if addon is not None:
            return addon
        return f"{name}-{h[:8]}", {}


def _addon_physical(
    typ: str, name: str, inputs: dict[str, Any], region: str, h: str
) -> tuple[str, dict[str, Any]] | None:
    """Ids and computed state of the add-ons' resources (endpoint, telephony)."""
    account = ACCOUNT_ID
    if typ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        is_lb = typ.endswith("LoadBalancer")
        lb_name = str(inputs.get("name") or name)
        suffix = f"{'app' if is_lb else 'targetgroup'}/{lb_name}/{h[:16]}"
        kind = "loadbalancer/" if is_lb else ""
        arn = f"arn:aws:elasticloadbalancing:{region}:{account}:{kind}{suffix}"
        extra: dict[str, Any] = {"arn": arn, "arnSuffix": suffix}
        if is_lb:
            extra |= {
                "dnsName": f"{lb_name}-{int(h[:8], 16)}.{region}.elb.amazonaws.com",
                "zoneId": "Z" + h[:13].upper(),
            }
        return arn, extra
    if typ == "aws:lb/listener:Listener":
        arn = f"arn:aws:elasticloadbalancing:{region}:{account}:listener/app/{h[:16]}/{h[16:32]}"
        return arn, {"arn": arn}
    if typ == "aws:acm/certificate:Certificate":
        arn = f"arn:aws:acm:{region}:{account}:certificate/{uuid.UUID(h[:32])}"
        domain = str(inputs.get("domainName", ""))
        option = {
            "domainName": domain,
            "resourceRecordName": f"_{h[:32]}.{domain}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{h[8:40]}.acm-validations.aws.",
        }
        return arn, {
            "arn": arn,
            "domainValidationOptions": [option],
            "status": "PENDING_VALIDATION",
        }
    if typ == "aws:acm/certificateValidation:CertificateValidation":
        return str(inputs.get("certificateArn", name)), {}
    if typ == "aws:route53/record:Record":
        fqdn = str(inputs.get("name", name)).rstrip(".")
        return f"{inputs.get('zoneId')}_{fqdn}_{inputs.get('type')}", {"fqdn": fqdn}
    if typ == "aws:wafv2/webAcl:WebAcl":
        acl_id = str(uuid.UUID(h[:32]))
        acl = str(inputs.get("name") or name)
        arn = f"arn:aws:wafv2:{region}:{account}:regional/webacl/{acl}/{acl_id}"
        return acl_id, {"arn": arn}
    if typ == "aws:connect/instance:Instance":
        instance_id = str(uuid.UUID(h[:32]))
        return instance_id, {"arn": f"arn:aws:connect:{region}:{account}:instance/{instance_id}"}
    connect_kinds = {
        "aws:connect/hoursOfOperation:HoursOfOperation": ("operating-hours", "hoursOfOperationId"),
        "aws:connect/queue:Queue": ("queue", "queueId"),
        "aws:connect/contactFlow:ContactFlow": ("contact-flow", "contactFlowId"),
    }
    if typ in connect_kinds:
        kind, id_key = connect_kinds[typ]
        own_id = str(uuid.UUID(h[:32]))
        instance = str(inputs.get("instanceId", ""))
        arn = f"arn:aws:connect:{region}:{account}:instance/{instance}/{kind}/{own_id}"
        return f"{instance}:{own_id}", {"arn": arn, id_key: own_id}
    if typ == "aws:connect/phoneNumber:PhoneNumber":
        number_id = str(uuid.UUID(h[:32]))
        # A number from the range reserved for fiction (+1 555 01xx) in every country.
        digits = f"+1555010{int(h[:4], 16) % 100:02d}"
        return number_id, {
            "arn": f"arn:aws:connect:{region}:{account}:phone-number/{number_id}",
            "phoneNumber": digits,
        }
    if typ == "aws:sesv2/emailIdentity:EmailIdentity":
        identity = str(inputs.get("emailIdentity", name))
        signing = dict(inputs.get("dkimSigningAttributes") or {})
        signing["tokens"] = [_digest(identity, str(i))[:32] for i in range(3)]
        return identity, {
            "arn": f"arn:aws:ses:{region}:{account}:identity/{identity}",
            "dkimSigningAttributes": signing,
        }
    if typ == "aws:sesv2/configurationSet:ConfigurationSet":
        set_name = str(inputs.get("configurationSetName", name))
        arn = f"arn:aws:ses:{region}:{account}:configuration-set/{set_name}"
        return set_name, {"arn": arn, "configurationSetName": set_name}
    if typ == "aws:cloudwatch/eventRule:EventRule":
        rule = str(inputs.get("name") or name)
        return rule, {"name": rule, "arn": f"arn:aws:events:{region}:{account}:rule/{rule}"}
    return None


@functools.cache
def _takes_default_tags(type_token: str) -> bool:
    """Whether the AWS provider merges default tags into this type (it has `tags_all`)."""
    package, module_path, class_name = type_token.split(":")
    if package != "aws":
        return False
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return hasattr(getattr(module, class_name, None), "tags_all")


def _provider_account(inputs: dict[str, Any]) -> str:
    """The account a provider's resources live in: its assumed role's, else the mocks' own."""
    raw = inputs.get("assumeRoles")
    if isinstance(raw, str):
        raw = json.loads(raw)
    for role in raw or []:
        arn = str((role or {}).get("roleArn") or "")
        if arn.count(":") >= 5:
            return arn.split(":")[4]
    return ACCOUNT_ID


def _provider_default_tags(inputs: dict[str, Any]) -> dict[str, str]:
    # Provider inputs arrive JSON-encoded, as the engine passes them to the provider.
    raw = inputs.get("defaultTags")
    if isinstance(raw, str):
        raw = json.loads(raw)
    tags = (raw or {}).get("tags") or {}
    return {str(k): str(v) for k, v in tags.items()}
