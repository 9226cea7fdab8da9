"""Reading props as the engine hands them to a policy.

Props are read-only mappings (proxies that raise on values unknown during preview), names
are camelCase, numbers are floats, some booleans are the strings "true"/"false", and IAM
documents are JSON strings. These helpers absorb those quirks in one place.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from components.spec import RESERVED_TAG_KEYS

PLATFORM_TAGS = RESERVED_TAG_KEYS


def as_bool(value: Any) -> bool | None:
    """A bool from a bool or its string form; `None` when unset or not a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def as_int(value: Any) -> int | None:
    """An int from the engine's float (or a numeric string); `None` when unset."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def known(props: Mapping[str, Any], key: str) -> Any:
    """`props[key]`, or `None` when it is absent or not known until the update runs."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (an unset nested block)."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """The elements of a list property; an unset or scalar property yields none."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def strings(value: Any) -> list[str]:
    """A string-or-list property (IAM `Action`, `Resource`) as a list of strings."""
    if isinstance(value, str):
        return [value]
    return [v for v in items(value) if isinstance(v, str)]


def plain(value: Any) -> Any:
    """A deep copy with plain dicts and lists (reading every value, so unknowns raise)."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def tags_of(props: Mapping[str, Any]) -> dict[str, str]:
    """The resource's effective tags: the provider-merged `tagsAll`, else `tags`.

    Autoscaling groups carry a `tags` list of `{key, value, propagateAtLaunch}` instead.
    """
    source = props.get("tagsAll") or props.get("tags")
    if isinstance(source, Mapping):
        return {str(k): str(v) for k, v in source.items() if v is not None}
    result: dict[str, str] = {}
    for tag in items(source):
        entry = mapping(tag)
        if "key" in entry:
            result[str(entry["key"])] = str(entry.get("value", ""))
    return result


def is_taggable(props: Mapping[str, Any]) -> bool:
    """Whether the resource takes tags: the engine shows `tagsAll` for every taggable one."""
    return "tagsAll" in props or "tags" in props


def stack_of_urn(urn: str) -> str:
    """The stack name in `urn:pulumi:<stack>::<project>::<type>::<name>` (the tenant id)."""
    head = urn.split("::", 1)[0]
    return head.rsplit(":", 1)[-1] if head.startswith("urn:pulumi:") else ""


def kind_of(resource_type: str) -> str:
    """`aws:s3/bucket:Bucket` -> `Bucket`, `pulumi:providers:aws` -> `Provider`, for messages."""
    if resource_type.startswith("pulumi:providers:"):
        return "Provider"
    return resource_type.rsplit(":", 1)[-1]


def decode_user_data(value: str) -> str:
    """Launch template user data is base64; fall back to the raw text if it is not."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value
