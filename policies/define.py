"""Builders that give every policy the same metadata and the same message shape.

Each policy module calls `resource_policy` or `stack_policy` once per rule; the result is a
plain `pulumi_policy` object, so the pack and the offline gate run exactly the same code.
Messages start with the resource kind and logical name, so a finding names what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

from policies.frameworks import Control, primary_framework
from policies.props import kind_of, known

Report = Callable[[str], None]
"""Reports one problem of the resource under validation."""

StackReport = Callable[[PolicyResource | None, str], None]
"""Reports one problem of a stack resource (or of the stack as a whole, with `None`)."""

ResourceCheck = Callable[[ResourceValidationArgs, Report, Mapping[str, Any]], None]
StackCheck = Callable[[StackValidationArgs, StackReport, Mapping[str, Any]], None]

_DOCS = "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/"


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

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if types and args.resource_type not in types:
            return
        prefix = label(args.resource_type, args.name)

        def report(message: str) -> None:
            report_violation(f"{prefix} {message}", None)

        check(args, report, effective_config(config, args.get_config()))

    return ResourceValidationPolicy(
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


def stack_policy(
    *,
    name: str,
    description: str,
    severity: Severity,
    controls: Sequence[Control],
    remediation: str,
    check: StackCheck,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    topics: Sequence[str] = (),
) -> StackValidationPolicy:
    """A policy that validates the stack as a whole (joins, presence, isolation)."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        def report(resource: PolicyResource | None, message: str) -> None:
            if resource is None:
                report_violation(message, None)
            else:
                report_violation(
                    f"{label(resource.resource_type, resource.name)} {message}", resource.urn
                )

        check(args, report, effective_config(config, args.get_config()))

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
