"""The offline gate: the pack's own policy objects, run on an offline plan of a stack.

It builds the arguments the way `pulumi_policy`'s analyzer server does for a preview:
props go through a protobuf `Struct` (numbers become floats) and an unknown-checking
proxy, resource validations see inputs (plus the provider-computed `tagsAll` a preview
shows), stack validations see the planned state with parents and dependencies linked,
enforcement levels come from the pack config, `not_applicable` is recorded, and a value
unknown during preview turns into an advisory finding, exactly as the engine reports it.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from inspect import isawaitable
from types import MappingProxyType
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from planner.model import PlannedResource, TenantPlan
from policies.config import PackConfig
from policies.define import resource_scope
from policies.frameworks import Control, controls_of
from policies.pack import ALL_POLICIES, PACK_NAME

PACK_LEVEL = EnforcementLevel.MANDATORY
"""The pack's default level, as `policies/__main__.py` passes it to `PolicyPack`."""


@functools.cache
def _default_provider_name(package: str) -> str:
    """The engine names a default provider after its plugin version, e.g. `default_7_51_0`."""
    try:
        return f"default_{version(f'pulumi_{package}').replace('.', '_')}"
    except PackageNotFoundError:
        return "default"


@dataclass(frozen=True)
class Finding:
    """One violation, with what a person needs to act on it."""

    tenant: str
    policy: str
    enforcement: str
    """`mandatory` blocks the change; `advisory` is reported only."""
    severity: str
    message: str
    description: str
    remediation: str
    urn: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None
    controls: tuple[Control, ...] = ()

    @property
    def mandatory(self) -> bool:
        return self.enforcement == EnforcementLevel.MANDATORY.value


@dataclass(frozen=True)
class NotApplicable:
    """A policy that declared itself not applicable to a resource (or the stack)."""

    policy: str
    urn: str | None
    reason: str


@dataclass(frozen=True)
class Evaluation:
    """What the pack found on one plan."""

    findings: tuple[Finding, ...]
    evaluated: tuple[str, ...]
    """Policies that ran (every policy not disabled)."""
    not_applicable: tuple[NotApplicable, ...] = ()
    """Where a policy declared itself not applicable, with its reason."""


def _engine_props(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the analyzer deserializes them from the gRPC request's `Struct`."""
    result: dict[str, Any] = deserialize_properties(_through_struct(values))
    return result


def _through_struct(value: Any) -> Any:
    """`value` as a protobuf `Struct` round trip returns it (`Struct.update`, then
    `MessageToDict`): every number a float, tuples lists, anything else refused.

    The same values as the protobuf round trip (tests/policies/test_gate_props.py compares
    them), several times cheaper: the gate converts every planned resource twice.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isinf(number) or math.isnan(number):
            raise ValueError(f"{number} cannot be carried by a protobuf Struct")
        return number
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"protobuf Struct keys are strings, not {key!r}")
            converted[key] = _through_struct(item)
        return converted
    if isinstance(value, (list, tuple)):
        return [_through_struct(item) for item in value]
    raise ValueError(f"a protobuf Struct cannot carry {type(value).__name__} values")


def _proxy(props: dict[str, Any]) -> Mapping[str, Any]:
    proxied: Mapping[str, Any] = unknown_checking_proxy(props)
    return proxied


class _PlanView:
    """A plan's resources in the shapes the analyzer hands to resource and stack policies.

    The analyzer deserializes props afresh for every policy; here each resource's props
    are built once and shared by all policies (which only read them), since building
    them per policy would cost more than the policies themselves.
    """

    def __init__(self, plan: TenantPlan) -> None:
        self.plan = plan
        self.by_urn = {r.urn: r for r in plan.resources}
        self.providers = {
            r.name: r for r in plan.resources if r.type.startswith("pulumi:providers:")
        }
        # A preview shows provider-computed `tagsAll` among the inputs of taggable resources.
        self.inputs = {
            r.urn: _engine_props(
                {**r.inputs, "tagsAll": r.outputs["tagsAll"]}
                if "tagsAll" in r.outputs
                else r.inputs
            )
            for r in plan.resources
        }
        self.state = {r.urn: _engine_props({**r.inputs, **r.outputs}) for r in plan.resources}

    def options(self, r: PlannedResource) -> PolicyResourceOptions:
        return PolicyResourceOptions(
            r.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.parent_urn
        )

    def provider(self, r: PlannedResource) -> PolicyProviderResource | None:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            return None
        explicit = self.providers.get(r.provider or "")
        if explicit is not None:
            return PolicyProviderResource(
                explicit.type, _proxy(self.inputs[explicit.urn]), explicit.urn, explicit.name
            )
        package = r.type.split(":", 1)[0]
        urn = f"urn:pulumi:{self.plan.tenant}::tenants::pulumi:providers:{package}::default"
        return PolicyProviderResource(
            f"pulumi:providers:{package}", _proxy({}), urn, _default_provider_name(package)
        )

    @functools.cached_property
    def _resource_parts(
        self,
    ) -> dict[str, tuple[Mapping[str, Any], PolicyResourceOptions, PolicyProviderResource | None]]:
        return {
            r.urn: (_proxy(self.inputs[r.urn]), self.options(r), self.provider(r))
            for r in self.plan.resources
        }

    def resource_args(
        self, r: PlannedResource, config: Mapping[str, Any]
    ) -> ResourceValidationArgs:
        props, opts, provider = self._resource_parts[r.urn]
        return ResourceValidationArgs(
            r.type, props, r.urn, r.name, opts, provider, config, MappingProxyType({})
        )

    @functools.cached_property
    def stack_resources(self) -> list[PolicyResource]:
        resources = {
            r.urn: PolicyResource(
                r.type,
                _proxy(self.state[r.urn]),
                r.urn,
                r.name,
                self.options(r),
                self.provider(r),
                None,
                [],
                {},
            )
            for r in self.plan.resources
        }
        for r in self.plan.resources:
            resource = resources[r.urn]
            if r.parent_urn in resources:
                resource.parent = resources[r.parent_urn]
            resource.dependencies.extend(resources[d] for d in r.dependencies if d in resources)
        return list(resources.values())


def evaluate_plan(
    plan: TenantPlan,
    *,
    stack_config: Mapping[str, str] | None = None,
    pack_config: PackConfig | None = None,
    policies: Sequence[Policy] = ALL_POLICIES,
) -> Evaluation:
    """Run every resource policy on every resource and every stack policy on the stack.

    `stack_config` is the engine-style stack config (full keys, JSON strings) that the
    engine hands to a policy pack; tenant rules read the spec from it.
    """
    pack = pack_config or PackConfig()
    if stack_config is not None:
        pulumi.runtime.set_all_config(dict(stack_config))
    view = _PlanView(plan)
    findings: list[Finding] = []
    evaluated: list[str] = []
    not_applicable: list[NotApplicable] = []

    for policy in policies:
        level = pack.level(policy, PACK_LEVEL)
        if level == EnforcementLevel.DISABLED:
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # a violation left after remediation blocks
        evaluated.append(policy.name)
        run = _PolicyRun(plan.tenant, policy, level, view.by_urn, findings)
        config = pack.config_for(policy)
        targets: list[tuple[ResourceValidationArgs | StackValidationArgs, str | None]] = []
        if isinstance(policy, ResourceValidationPolicy):
            # A pack policy returns at once for types it does not validate: not asked.
            scope = resource_scope(policy)
            targets = [
                (view.resource_args(r, config), r.urn)
                for r in plan.resources
                if not scope or r.type in scope
            ]
        elif isinstance(policy, StackValidationPolicy):
            stack_args = StackValidationArgs(view.stack_resources, config, MappingProxyType({}))
            targets = [(stack_args, None)]
        for args, urn in targets:
            reason = run.evaluate(args, urn)
            if reason is not None:
                not_applicable.append(NotApplicable(policy.name, urn, reason))

    return Evaluation(tuple(findings), tuple(evaluated), tuple(not_applicable))


@dataclass
class _PolicyRun:
    """One policy over one plan, collecting findings as the analyzer collects diagnostics."""

    tenant: str
    policy: Policy
    level: EnforcementLevel
    by_urn: Mapping[str, PlannedResource]
    findings: list[Finding]

    def evaluate(
        self, args: ResourceValidationArgs | StackValidationArgs, urn: str | None
    ) -> str | None:
        """Validate one target; returns the not-applicable reason, if it gave one."""

        def report(message: str, violating_urn: str | None = None) -> None:
            # Resource validations always report against the resource under validation.
            self._add(message, urn or violating_urn, self.level)

        try:
            result = self.policy.validate(args, report)  # type: ignore[attr-defined]
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
        except _NotApplicableError as error:
            return error.reason or "Policy does not apply"
        except UnknownValueError as error:
            self._add(
                f"can't run policy '{self.policy.name}' from policy pack '{PACK_NAME}' during "
                f"preview: {error.message}",
                None,
                EnforcementLevel.ADVISORY,
            )
        return None

    def _add(self, message: str, urn: str | None, level: EnforcementLevel) -> None:
        resource = self.by_urn.get(urn or "")
        policy = self.policy
        self.findings.append(
            Finding(
                tenant=self.tenant,
                policy=policy.name,
                enforcement=level.value,
                severity=policy.severity.value if policy.severity else "medium",
                message=message,
                description=policy.description,
                remediation=policy.remediation_steps or "",
                urn=urn,
                resource_type=resource.type if resource else None,
                resource_name=resource.name if resource else None,
                controls=controls_of(policy),
            )
        )
