"""Pack configuration, in the format of `pulumi preview --policy-pack-config`.

`{"all": "mandatory", "<policy>": "advisory" | {"enforcementLevel": ..., "<prop>": ...}}`.
Properties are validated against each policy's config schema, and schema defaults are
filled in, as the engine does before it configures a pack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from pulumi_policy import EnforcementLevel, Policy

from policies.define import effective_config


class PackConfigError(ValueError):
    """The pack configuration names an unknown policy, level or property."""


_LEVELS = ", ".join(level.value for level in EnforcementLevel)


def _level(value: Any, where: str) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        raise PackConfigError(
            f"{where}: enforcement level {value!r} is not one of {_LEVELS}"
        ) from None


@dataclass(frozen=True)
class PackConfig:
    """Enforcement levels and properties per policy; what is not set keeps the defaults."""

    default_level: EnforcementLevel | None = None
    """The `all` level: overrides every policy's own level."""
    levels: Mapping[str, EnforcementLevel] = field(default_factory=dict)
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level(self, policy: Policy, pack_default: EnforcementLevel) -> EnforcementLevel:
        """The level a policy runs at: configured, else `all`, else its own, else the pack's."""
        if policy.name in self.levels:
            return self.levels[policy.name]
        if self.default_level is not None:
            return self.default_level
        return policy.enforcement_level or pack_default

    def config_for(self, policy: Policy) -> dict[str, Any]:
        schema = policy.config_schema.properties if policy.config_schema else None
        return effective_config(schema, self.properties.get(policy.name, {}))


def parse_pack_config(raw: Mapping[str, Any], policies: Sequence[Policy]) -> PackConfig:
    """Validate a pack config document; errors name the policy, property and what is allowed."""
    by_name = {p.name: p for p in policies}
    default_level: EnforcementLevel | None = None
    levels: dict[str, EnforcementLevel] = {}
    properties: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if name == "all":
            default_level = _level(value, "all")
            continue
        policy = by_name.get(name)
        if policy is None:
            raise PackConfigError(f"unknown policy {name!r}; known: {', '.join(sorted(by_name))}")
        if isinstance(value, str):
            levels[name] = _level(value, name)
            continue
        if not isinstance(value, Mapping):
            raise PackConfigError(f"{name}: expected a level or an object, got {value!r}")
        props = {k: v for k, v in value.items() if k != "enforcementLevel"}
        if "enforcementLevel" in value:
            levels[name] = _level(value["enforcementLevel"], name)
        _validate_properties(policy, props)
        properties[name] = props
    return PackConfig(default_level=default_level, levels=levels, properties=properties)


def _validate_properties(policy: Policy, props: Mapping[str, Any]) -> None:
    schema = policy.config_schema.properties if policy.config_schema else {}
    unknown = sorted(set(props) - set(schema))
    if unknown:
        allowed = ", ".join(sorted(schema)) or "none"
        raise PackConfigError(f"{policy.name}: unknown properties {unknown}; allowed: {allowed}")
    document = {"type": "object", "properties": schema}
    try:
        jsonschema.validate(dict(props), document)
    except jsonschema.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path)
        raise PackConfigError(f"{policy.name}.{path}: {error.message}") from None


def load_pack_config(path: Path, policies: Sequence[Policy]) -> PackConfig:
    """Read a pack config JSON file."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PackConfigError(f"{path}: cannot read pack config: {error}") from None
    if not isinstance(raw, dict):
        raise PackConfigError(f"{path}: expected a JSON object of policy names")
    return parse_pack_config(raw, policies)
