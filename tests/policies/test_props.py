"""Props as the engine sends them: lazy unknowns, wrong types, lists for objects."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import (
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from policies.props import (
    as_bool,
    as_int,
    is_unknown,
    items,
    known,
    lenient,
    mapping,
    objects,
    plain,
    strings,
    tags_of,
    text,
)
from policies.rules import network
from tests.policies.harness import TAGS, evaluate, res


def engine(props: dict[str, Any]) -> Any:
    return lenient(unknown_checking_proxy(props))


def test_reading_an_unknown_does_not_raise_but_using_it_does() -> None:
    props = engine({"description": UNKNOWN_STRING_VALUE, "port": 22.0})
    value = props["description"]
    assert is_unknown(value)
    assert props["port"] == 22.0
    for use in (bool, str, repr, lambda v: v == "x", lambda v: v in ("x",), text, as_bool):
        with pytest.raises(UnknownValueError) as error:
            use(value)
        assert error.value.message == "string value at .description can't be known during preview"


def test_unknowns_in_plain_dicts_are_recognized_too() -> None:
    props = lenient({"rules": [{"ok": 1}, UNKNOWN_STRING_VALUE]})
    first, second = items(props["rules"])
    assert mapping(first)["ok"] == 1
    assert is_unknown(second)
    with pytest.raises(UnknownValueError) as error:
        mapping(second)
    assert error.value.props == ["rules", "1"]


def test_known_is_tolerant_of_unknowns_and_non_mappings() -> None:
    props = engine({"id": UNKNOWN_STRING_VALUE, "name": "n"})
    assert known(props, "id") is None
    assert known(props, "name") == "n"
    assert known(props, "absent") is None
    assert known("not a mapping", "id") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("false", False), (" TRUE ", True), ("yes", None), (1.0, None), (None, None)],
)
def test_as_bool(value: Any, expected: bool | None) -> None:
    assert as_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7.0, 7), ("30", 30), (" -1 ", -1), (float("nan"), None), (float("inf"), None), (True, None)],
)
def test_as_int(value: Any, expected: int | None) -> None:
    assert as_int(value) == expected


def test_shapes_that_are_not_what_a_rule_expects() -> None:
    assert mapping(["not", "a", "map"]) == {}
    assert mapping([{"one": 1}]) == {"one": 1}  # a block modelled as a list of one
    assert objects({"one": 1}) == [{"one": 1}]
    assert objects([{"a": 1}, "x", None]) == [{"a": 1}]
    assert items("scalar") == []
    assert strings(["s3:GetObject", 123456789012.0, None, {"x": 1}]) == [
        "s3:GetObject",
        "123456789012",
    ]
    assert text(42) == ""


def test_plain_cuts_off_pathological_nesting() -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    assert plain(deep) is not None


def test_tags_with_an_unknown_value_keep_the_others_readable() -> None:
    tags = tags_of(engine({"tagsAll": {**TAGS, "Name": UNKNOWN_STRING_VALUE}}))
    assert tags["tenant"] == "acme"
    assert is_unknown(tags["Name"])


def test_an_unknown_description_does_not_hide_an_open_port() -> None:
    rule = res(
        network.INGRESS_RULE,
        "acme-ssh",
        {
            "securityGroupId": "sg-1",
            "ipProtocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "cidrIpv4": "0.0.0.0/0",
            "description": UNKNOWN_STRING_VALUE,
        },
        tags=TAGS,
    )
    [finding] = evaluate(network.vpc_security_group_disallow_public_ingress, rule).findings
    assert finding.enforcement == "mandatory"
    assert "allows ingress on port 22 from 0.0.0.0/0" in finding.message


def test_an_unknown_rule_does_not_hide_another_rules_open_port() -> None:
    group = res(
        network.SECURITY_GROUP,
        "acme-sg",
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 80,
                    "toPort": 80,
                    "cidrBlocks": UNKNOWN_STRING_VALUE,
                },
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]},
                {"protocol": "tcp", "fromPort": 25, "toPort": UNKNOWN_BOOLEAN_VALUE},
            ]
        },
        tags=TAGS,
    )
    findings = evaluate(network.vpc_security_group_disallow_public_ingress, group).findings
    assert [f.enforcement for f in findings] == ["mandatory", "advisory"]
    assert "port 22 from 0.0.0.0/0" in findings[0].message
    assert "can't run policy" in findings[1].message
