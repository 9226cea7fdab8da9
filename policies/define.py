"""Builders that give every policy the same metadata and the same message shape.

Each policy module calls `resource_policy` or `stack_policy` once per rule; the result is a
plain `pulumi_policy` object, so the pack and the offline gate run exactly the same code.
Messages start with the resource kind and logical name, so a finding names what to fix.

Checks see props through `props.lenient`: a value unknown during preview stops a check only
when the check uses it. A check that walks several parts (the rules of a security group, the
statements of a document, the resources of a stack) handles each part `within(...)`, so an
unknown in one part does not hide a finding in another; the first such unknown is raised
after the check finished, and the engine reports it as the advisory "can't run during
preview" next to the findings already made.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies.frameworks import Control, primary_framework
from policies.props import kind_of, known, lenient

Report = Callable[[str], None]
"""Reports one problem of the resource under validation."""

StackReport = Callable[[PolicyResource | None, str], None]
"""Reports one problem of a stack resource (or of the stack as a whole, with `None`)."""

ResourceCheck = Callable[[ResourceValidationArgs, Report, Mapping[str, Any]], None]
StackCheck = Callable[[StackValidationArgs, StackReport, Mapping[str, Any]], None]

_DOCS = "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/"

_COVERAGE: dict[str, frozenset[str]] = {}
"""Policy name to the resource types it reads (empty: every resource)."""

_RESOURCE_SCOPES: weakref.WeakKeyDictionary[ResourceValidationPolicy, frozenset[str]] = (
    weakref.WeakKeyDictionary()
)
"""Resource policies built here, to the types they validate (empty: every resource)."""

_HELD: ContextVar[list[UnknownValueError] | None] = ContextVar("held_unknowns", default=None)


def covered_types(policy_name: str) -> frozenset[str]:
    """The resource types a policy of this pack reads; empty when it reads every resource."""
    return _COVERAGE.get(policy_name, frozenset())


def resource_scope(policy: ResourceValidationPolicy) -> frozenset[str] | None:
    """The resource types a resource policy of this pack validates (empty: every type);
    `None` for a policy not built here, which must see every resource."""
    return _RESOURCE_SCOPES.get(policy)


@contextmanager
def within() -> Iterator[None]:
    """Check one part of a resource or stack; an unknown value stops only this part."""
    try:
        yield
    except UnknownValueError as error:
        held = _HELD.get()
        if held is None:
            raise
        held.append(error)


def _run_holding_unknowns(run: Callable[[], None]) -> None:
    held: list[UnknownValueError] = []
    token = _HELD.set(held)
    try:
        run()
    finally:
        _HELD.reset(token)
    if held:
        raise held[0]


def label(resource_type: str, name: str) -> str:
    return f"{kind_of(resource_type)} {name!r}"


def effective_config(
    schema: Mapping[str, Mapping[str, Any]] | None, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Schema defaults overlaid with the configured values, as the engine applies them."""
    values = {k: spec["default"] for k, spec in (schema or {}).items() if "default" in spec}
    values.update({k: v for k, v in given.items() if k != "enforcementLevel"})
    return values


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    if not config:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()})


def _tags(controls: Sequence[Control], topics: Sequence[str]) -> list[str]:
    return [*topics, *(c.tag for c in controls)]


def resource_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    resource_types: Sequence[str],
    check: ResourceCheck,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    topics: Sequence[str] = (),
) -> ResourceValidationPolicy:
    """A policy that validates each resource of `resource_types` (every resource if empty)."""
    types = frozenset(resource_types)
    _COVERAGE[name] = types

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if types and args.resource_type not in types:
            return
        prefix = label(args.resource_type, args.name)

        def report(message: str) -> None:
            report_violation(f"{prefix} {message}", None)

        view = copy.copy(args)
        view.props = lenient(args.props)
        settings = effective_config(config, args.get_config())
        _run_holding_unknowns(lambda: check(view, report, settings))

    policy = ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=_schema(config),
        severity=severity,
        framework=primary_framework(tuple(controls)),
        tags=_tags(controls, topics),
        remediation_steps=remediation,
        url=_DOCS,
    )
    _RESOURCE_SCOPES[policy] = types
    return policy


def stack_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    resource_types: Sequence[str],
    check: StackCheck,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    topics: Sequence[str] = (),
) -> StackValidationPolicy:
    """A policy that validates the stack as a whole (joins, presence, isolation).

    `resource_types` names the types the check reads, for coverage and tests.
    """
    _COVERAGE[name] = frozenset(resource_types)

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        def report(resource: PolicyResource | None, message: str) -> None:
            if resource is None:
                report_violation(message, None)
            else:
                report_violation(
                    f"{label(resource.resource_type, resource.name)} {message}", resource.urn
                )

        view = copy.copy(args)
        view.resources = _lenient_resources(args.resources)
        settings = effective_config(config, args.get_config())
        _run_holding_unknowns(lambda: check(view, report, settings))

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=_schema(config),
        severity=severity,
        framework=primary_framework(tuple(controls)),
        tags=_tags(controls, topics),
        remediation_steps=remediation,
        url=_DOCS,
    )


_last_lenient: list[tuple[Sequence[PolicyResource], list[PolicyResource]]] = []
"""The stack last seen and its lenient copies: every stack policy of a plan is handed the
same resources, and the copies are read-only views, so they are made once per stack."""


def _lenient_resources(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    """Copies of the stack's resources with lenient props, linked to each other as before."""
    last = next(iter(_last_lenient), None)  # one read: another thread may replace it
    if last is not None and last[0] is resources:
        return last[1]
    copied = _lenient_copies(resources)
    _last_lenient[:] = [(resources, copied)]
    return copied


def _lenient_copies(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    copies = {id(r): copy.copy(r) for r in resources}

    def same(resource: PolicyResource) -> PolicyResource:
        return copies.get(id(resource), resource)

    for resource in copies.values():
        resource.props = lenient(resource.props)
        resource.parent = same(resource.parent) if resource.parent is not None else None
        resource.dependencies = [same(d) for d in resource.dependencies]
        resource.property_dependencies = {
            key: [same(d) for d in deps] for key, deps in resource.property_dependencies.items()
        }
    return list(copies.values())


def of_type(args: StackValidationArgs, *resource_types: str) -> list[PolicyResource]:
    """The stack's resources of the given types, in stack order."""
    return [r for r in args.resources if r.resource_type in resource_types]


def linked(resource: PolicyResource, target: PolicyResource, key: str) -> bool:
    """Whether `resource`'s prop `key` (e.g. `bucket`, `vpcId`) refers to `target`.

    The engine's property dependencies answer exactly; otherwise a known value is compared
    with the target's id, ARN or name; during a real preview ids of new resources are
    unknown, so a dependency on the target counts as well.
    """
    if key in resource.property_dependencies:
        return any(dep.urn == target.urn for dep in resource.property_dependencies[key])
    value = known(resource.props, key)
    if value is not None:
        identities = {
            str(v)
            for k in ("id", "arn", "bucket", "name")
            if (v := known(target.props, k)) is not None
        }
        if str(value) in identities:
            return True
    return any(dep.urn == target.urn for dep in resource.dependencies)
