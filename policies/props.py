"""Reading props as the engine hands them to a policy.

Props are read-only mappings (proxies that raise on values unknown during preview), names
are camelCase, numbers are floats, some booleans are the strings "true"/"false", and IAM
documents are JSON strings. These helpers absorb those quirks in one place.

Unknowns are read lazily: `lenient` wraps props so that reading a value unknown during
preview gives an `Unknown` placeholder, and only *using* it (comparing, testing, formatting,
or passing it to one of the helpers below) raises the engine's `UnknownValueError`. A rule
that never looks at a field is therefore never stopped by that field being unknown, and an
unknown description cannot turn an open port into "can't run during preview".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from components.spec import RESERVED_TAG_KEYS

PLATFORM_TAGS = RESERVED_TAG_KEYS

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class Unknown:
    """A value not known until the update runs; any use of it raises the engine's error."""

    __slots__ = ("error",)

    def __init__(self, error: UnknownValueError) -> None:
        self.error = error

    def resolve(self) -> NoReturn:
        raise self.error

    def _use(self, *_: Any) -> NoReturn:
        raise self.error

    __bool__ = __str__ = __repr__ = __format__ = __hash__ = _use
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _use
    __len__ = __iter__ = __contains__ = __getitem__ = _use
    __int__ = __float__ = __index__ = _use


def _unknown(value: Any, path: tuple[str, ...]) -> Unknown | None:
    if isinstance(value, str) and value in _SENTINELS:
        return Unknown(UnknownValueError(value, list(path)))
    return None


def _wrap(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, Unknown | _MappingView | _SequenceView):
        return value
    placeholder = _unknown(value, path)
    if placeholder is not None:
        return placeholder
    if isinstance(value, Mapping):
        return _MappingView(value, path)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _SequenceView(value, path)
    return value


class _MappingView(Mapping[str, Any]):
    __slots__ = ("_path", "_target")

    def __init__(self, target: Mapping[Any, Any], path: tuple[str, ...]) -> None:
        self._target = target
        self._path = path

    def __getitem__(self, key: str) -> Any:
        try:
            value = self._target[key]
        except UnknownValueError as error:
            return Unknown(error)
        except TypeError:
            raise KeyError(key) from None
        return _wrap(value, (*self._path, str(key)))

    def __iter__(self) -> Iterator[str]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)


class _SequenceView(Sequence[Any]):
    __slots__ = ("_path", "_target")

    def __init__(self, target: Sequence[Any], path: tuple[str, ...]) -> None:
        self._target = target
        self._path = path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        try:
            value = self._target[index]
        except UnknownValueError as error:
            return Unknown(error)
        return _wrap(value, (*self._path, str(index)))

    def __len__(self) -> int:
        return len(self._target)


def lenient(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """`props` with unknowns read as `Unknown` placeholders instead of raising on read."""
    wrapped = _wrap(props, ())
    return wrapped if isinstance(wrapped, Mapping) else {}


def resolved(value: Any) -> Any:
    """`value` itself; raises the engine's error if it is unknown (the rule needs it)."""
    if isinstance(value, Unknown):
        value.resolve()
    return value


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def as_bool(value: Any) -> bool | None:
    """A bool from a bool or its string form; `None` when unset or not a boolean."""
    value = resolved(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def as_int(value: Any) -> int | None:
    """An int from the engine's float (or a numeric string); `None` when unset or not a number."""
    value = resolved(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def text(value: Any) -> str:
    """A string property; anything that is not a string (unset, wrong type) reads as ""."""
    value = resolved(value)
    return value if isinstance(value, str) else ""


def known(props: Any, key: str) -> Any:
    """`props[key]`, or `None` when it is absent, not known until the update runs, or `props`
    is not a mapping."""
    if not isinstance(props, Mapping):
        return None
    try:
        value = props.get(key)
    except (UnknownValueError, TypeError):
        return None
    if isinstance(value, Unknown) or _unknown(value, ()) is not None:
        return None
    return value


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (an unset or malformed nested block).

    A block the provider models as a list of one object may arrive as that list; its first
    object is the block.
    """
    value = resolved(value)
    if isinstance(value, Mapping):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) == 1:
        first = resolved(value[0])
        if isinstance(first, Mapping):
            return first
    return {}


def items(value: Any) -> list[Any]:
    """The elements of a list property; an unset or scalar property yields none.

    Elements may be `Unknown`: a rule that looks at one element is not stopped by another.
    """
    value = resolved(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The mapping elements of a list property (a single object counts as a list of one)."""
    value = resolved(value)
    if isinstance(value, Mapping):
        return [value]
    return [m for m in (resolved(v) for v in items(value)) if isinstance(m, Mapping)]


def strings(value: Any) -> list[str]:
    """A string-or-list property (IAM `Action`, `Resource`) as a list of strings.

    Numbers and booleans (an account id read as a number, a JSON `false`) become their
    string form; nested objects are skipped.
    """
    values = items(value) if not isinstance(resolved(value), str) else [value]
    if not values and value is not None and not isinstance(value, Sequence | Mapping):
        values = [value]
    result: list[str] = []
    for element in map(resolved, values):
        if isinstance(element, str):
            result.append(element)
        elif isinstance(element, bool):
            result.append(str(element).lower())
        elif isinstance(element, int):
            result.append(str(element))
        elif isinstance(element, float) and math.isfinite(element):
            result.append(str(int(element)) if element.is_integer() else str(element))
    return result


def plain(value: Any, depth: int = 0) -> Any:
    """A deep copy with plain dicts and lists (reading every value, so unknowns raise).

    Nesting deeper than any real document is cut off, so a pathological value cannot
    exhaust the stack.
    """
    value = resolved(value)
    if depth > 64:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(value[k], depth + 1) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v, depth + 1) for v in value]
    return value


def tags_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's effective tags: the provider-merged `tagsAll`, else `tags`.

    Autoscaling groups carry a `tags` list of `{key, value, propagateAtLaunch}` instead. A tag
    whose value is unknown keeps its `Unknown` value: only a rule that reads that tag needs it.
    """
    source = props.get("tagsAll")
    if source is None or (not isinstance(source, Unknown) and not source):
        source = props.get("tags")
    source = resolved(source)
    if isinstance(source, Mapping):
        return {
            str(k): v if isinstance(v, Unknown) else str(v)
            for k, v in source.items()
            if v is not None
        }
    result: dict[str, Any] = {}
    for tag in objects(source):
        key = tag.get("key")
        if isinstance(key, str):
            value = tag.get("value", "")
            result[key] = value if isinstance(value, Unknown) else str(value)
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
