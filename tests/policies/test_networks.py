"""Networks as address sets: what is the internet, and what rules open to it together."""

from __future__ import annotations

from typing import Any

import pytest

from policies.networks import (
    ALL,
    PORTS,
    Flow,
    InternetSize,
    exposures,
    is_internet,
    open_ports,
    opens_every_port,
    parse_network,
    port_range,
    protocol_name,
    public_addresses,
)


def nets(*cidrs: str) -> list[Any]:
    return [parse_network(c) for c in cidrs]


@pytest.mark.parametrize(
    ("cidrs", "internet"),
    [
        (("0.0.0.0/0",), True),
        (("::/0",), True),
        (("0.0.0.0/1",), True),
        (("128.0.0.0/1",), True),
        (("0.0.0.0/1", "128.0.0.0/1"), True),
        (("2000::/3",), True),
        (("2001:db8::/16",), True),  # wider than the documentation block
        (("10.0.0.0/8",), False),
        (("172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"), False),
        (("198.51.100.0/24",), False),
        (("203.0.113.7",), False),
        (("52.94.0.0/16",), False),  # exactly the default size: a known network
        (("52.94.0.0/15",), True),
        (("52.94.0.0/16", "52.95.0.0/16"), True),  # two known-sized ranges add up
        (("52.94.0.0/16", "60.1.0.0/16"), True),  # even when they are not adjacent
        (("2a05:d000::/32",), False),
        (("2a05:d000::/31",), True),
        (("fc00::/7", "fe80::/10", "ff00::/8"), False),
        (("2001:db8::/32",), False),
        (("::ffff:0:0/96",), False),  # IPv4-mapped: not a routable IPv6 source
        ((), False),
    ],
)
def test_what_is_the_internet(cidrs: tuple[str, ...], internet: bool) -> None:
    assert is_internet(nets(*cidrs)) is internet


def test_the_size_is_configurable() -> None:
    office = nets("52.94.0.0/20")
    assert is_internet(office) is False
    assert is_internet(office, InternetSize(ipv4=24)) is True
    assert is_internet(nets("2a05:d000::/40"), InternetSize(ipv6=48)) is True


def test_public_addresses_count_overlaps_once() -> None:
    assert public_addresses(nets("52.0.0.0/24", "52.0.0.0/25", "52.0.0.128/25"), 4) == 256
    assert public_addresses(nets("10.0.0.0/8"), 4) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 10.1.2.3/8 ", "10.0.0.0/8"),  # host bits set: AWS rejects it, we still read it
        ("203.0.113.7", "203.0.113.7/32"),
        ("::/0", "::/0"),
        ("not-a-cidr", None),
        ("", None),
        (None, None),
        (42, None),
        (["0.0.0.0/0"], None),
    ],
)
def test_parse_network(value: Any, expected: str | None) -> None:
    parsed = parse_network(value)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", ALL),
        (-1.0, ALL),
        ("all", ALL),
        ("TCP", "tcp"),
        ("6", "tcp"),
        (17.0, "udp"),
        ("icmp", "icmp"),
        ("58", "icmpv6"),
        ("50", "50"),
        (None, ALL),
        ("", ALL),
    ],
)
def test_protocol_name(value: Any, expected: str) -> None:
    assert protocol_name(value) == expected


@pytest.mark.parametrize(
    ("protocol", "first", "last", "expected"),
    [
        ("tcp", 22, 22, (22, 22)),
        ("tcp", 500, 400, (400, 500)),
        ("tcp", None, None, PORTS),
        ("tcp", -1, -1, PORTS),
        ("tcp", 0, 70000, PORTS),
        ("icmp", 8, 0, PORTS),
        (ALL, 0, 0, PORTS),
    ],
)
def test_port_range(protocol: str, first: int | None, last: int | None, expected: Any) -> None:
    assert port_range(protocol, first, last) == expected


def flow(source: str, protocol: str, ports: tuple[int, int], *cidrs: str) -> Flow:
    return Flow(source, protocol, ports, cidrs)


@pytest.mark.parametrize(
    ("flows", "expected"),
    [
        ([flow("a", "tcp", (443, 443), "0.0.0.0/0")], [("tcp", (443, 443))]),
        ([flow("a", "tcp", (22, 22), "10.0.0.0/8")], []),
        (
            [flow("a", "tcp", (22, 22), "0.0.0.0/1"), flow("b", "tcp", (22, 22), "128.0.0.0/1")],
            [("tcp", (22, 22))],
        ),
        (  # halves of the internet on different ports: each half is already the internet
            [flow("a", "tcp", (22, 22), "0.0.0.0/1"), flow("b", "tcp", (80, 80), "128.0.0.0/1")],
            [("tcp", (22, 22)), ("tcp", (80, 80))],
        ),
        (  # small ranges that only add up on the ports they share
            [
                flow("a", "tcp", (20, 30), "52.94.0.0/16"),
                flow("b", "tcp", (25, 40), "52.95.0.0/16"),
            ],
            [("tcp", (25, 30))],
        ),
        (  # adjacent open segments are reported once
            [flow("a", "tcp", (0, 100), "::/0"), flow("b", "tcp", (101, 200), "::/0")],
            [("tcp", (0, 200))],
        ),
        ([flow("a", ALL, PORTS, "0.0.0.0/0"), flow("b", "tcp", (22, 22), "::/0")], [(ALL, PORTS)]),
        (  # all-traffic rules count towards every protocol's ports
            [flow("a", ALL, PORTS, "52.94.0.0/16"), flow("b", "udp", (53, 53), "52.95.0.0/16")],
            [("udp", (53, 53))],
        ),
        ([flow("a", "icmp", PORTS, "0.0.0.0/0")], [("icmp", PORTS)]),
        ([flow("a", "tcp", (22, 22), "not-a-cidr")], []),
    ],
)
def test_exposures(flows: list[Flow], expected: list[tuple[str, tuple[int, int]]]) -> None:
    assert [(e.protocol, e.ports) for e in exposures(flows)] == expected


def test_exposures_name_the_public_ranges_and_rules() -> None:
    [exposure] = exposures(
        [
            flow("a", "tcp", (22, 22), "10.0.0.0/8", "0.0.0.0/1"),
            flow("b", "tcp", (22, 22), "128.0.0.0/1"),
        ]
    )
    assert exposure.cidrs == ("0.0.0.0/1", "128.0.0.0/1")
    assert exposure.sources == ("a", "b")
    assert exposure.describe() == "port 22"


@pytest.mark.parametrize(
    ("flows", "allowed", "opens"),
    [
        ([flow("a", "tcp", (443, 443), "0.0.0.0/0")], [443], False),
        ([flow("a", "tcp", (440, 445), "0.0.0.0/0")], [443], True),
        ([flow("a", "udp", (443, 443), "0.0.0.0/0")], [443], False),
        ([flow("a", "icmp", PORTS, "0.0.0.0/0")], [443], True),
    ],
)
def test_open_ports(flows: list[Flow], allowed: list[int], opens: bool) -> None:
    [exposure] = exposures(flows)
    assert open_ports(exposure, allowed) is opens


@pytest.mark.parametrize(
    ("flows", "every"),
    [
        ([flow("a", ALL, PORTS, "0.0.0.0/0")], True),
        ([flow("a", "tcp", (0, 65535), "0.0.0.0/0")], True),
        ([flow("a", "udp", (1, 65535), "::/0")], True),
        ([flow("a", "tcp", (0, 32767), "::/0"), flow("b", "tcp", (32768, 65535), "::/0")], True),
        ([flow("a", "tcp", (443, 443), "0.0.0.0/0")], False),
        ([flow("a", "icmp", PORTS, "0.0.0.0/0")], False),
        ([flow("a", "47", PORTS, "0.0.0.0/0")], True),
    ],
)
def test_opens_every_port(flows: list[Flow], every: bool) -> None:
    [exposure] = exposures(flows)
    assert opens_every_port(exposure) is every
