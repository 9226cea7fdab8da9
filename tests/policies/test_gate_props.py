"""The gate's props conversion gives exactly what the analyzer's protobuf round trip gives."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_policy.deserialize import deserialize_properties

from planner.program import plan_stack_file
from planner.stacks import PROJECT_ROOT
from policies.gate import _engine_props, _through_struct


def _through_protobuf(values: dict[str, Any]) -> dict[str, Any]:
    """The analyzer's own round trip: `Struct.update`, then `MessageToDict`."""
    struct = struct_pb2.Struct()
    struct.update(values)
    result: dict[str, Any] = json_format.MessageToDict(struct)
    return result


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


def _same(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down (1.0 == 1 and True == 1 otherwise)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _VALUES, max_size=6))
def test_same_values_and_types_as_the_protobuf_round_trip(values: dict[str, Any]) -> None:
    assert _same(_through_struct(values), _through_protobuf(values))


@pytest.mark.parametrize(
    "values",
    [{"n": float("nan")}, {"n": float("inf")}, {"b": b"bytes"}, {"s": {1, 2}}, {"k": {1: "a"}}],
    ids=["nan", "infinity", "bytes", "set", "integer-key"],
)
def test_refuses_what_protobuf_refuses(values: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _through_protobuf(values)
    with pytest.raises(ValueError):
        _through_struct(values)


def test_engine_props_of_a_real_plan_match_the_protobuf_path() -> None:
    plan = plan_stack_file(PROJECT_ROOT / "stacks" / "Pulumi.acme.yaml")
    for resource in plan.resources:
        for values in (resource.inputs, {**resource.inputs, **resource.outputs}):
            expected = deserialize_properties(_through_protobuf(values))
            assert _same(_engine_props(values), expected), resource.urn
