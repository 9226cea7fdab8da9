"""Networks as address sets: what counts as the internet, and what rules together open to it.

A range is "the internet" when the public addresses it covers (private, shared, loopback,
link-local, documentation, multicast and reserved blocks excluded) are more than one network
of a configurable prefix length holds: by default more than a /16 in IPv4 or a /32 in IPv6.
So `0.0.0.0/0`, `::/0`, `0.0.0.0/1` and `128.0.0.0/1` are the internet, `10.0.0.0/8` and an
office's `198.51.100.0/24` are not. Sizes add up across every range given together, which is
how the rules of one security group are judged: per protocol and port, over all its rules.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NON_PUBLIC_V6 = (ipaddress.IPv6Network("2001:db8::/32"),)

PORTS = (0, 65535)
ALL = "all"
_PROTOCOL_NAMES = {"-1": ALL, "all": ALL, "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PORT_PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class InternetSize:
    """Prefix lengths below which a public range (or several together) is the internet."""

    ipv4: int = 16
    ipv6: int = 32

    def limit(self, version: int) -> int:
        """The most public addresses a range of this IP version may cover."""
        bits, prefix = (32, self.ipv4) if version == 4 else (128, self.ipv6)
        return 1 << (bits - prefix)


DEFAULT_SIZE = InternetSize()

INTERNET_CONFIG: dict[str, dict[str, Any]] = {
    "internetPrefixIpv4": {
        "type": "integer",
        "minimum": 0,
        "maximum": 32,
        "default": DEFAULT_SIZE.ipv4,
        "description": "Public IPv4 ranges covering more addresses than one network of this "
        "prefix length (all rules of a group together) count as the internet.",
    },
    "internetPrefixIpv6": {
        "type": "integer",
        "minimum": 0,
        "maximum": 128,
        "default": DEFAULT_SIZE.ipv6,
        "description": "Public IPv6 ranges covering more addresses than one network of this "
        "prefix length count as the internet.",
    },
}
"""Config properties of the policies that judge networks, as `internet_size` reads them."""


def internet_size(config: Mapping[str, Any]) -> InternetSize:
    return InternetSize(
        ipv4=int(config.get("internetPrefixIpv4", DEFAULT_SIZE.ipv4)),
        ipv6=int(config.get("internetPrefixIpv6", DEFAULT_SIZE.ipv6)),
    )


# A fleet repeats the same few ranges in every tenant's rules and documents (`0.0.0.0/0`, the
# VPC's own block, a customer's VPN range): parsing and splitting them once per process
# saves most of what judging networks costs. Both are pure functions of a string or range.
_RANGES_REMEMBERED = 4096


def parse_network(value: Any) -> Network | None:
    """A CIDR or a single address as a network; `None` for anything else."""
    if not isinstance(value, str):
        return None
    return _parse_cidr(value)


@functools.lru_cache(maxsize=_RANGES_REMEMBERED)
def _parse_cidr(value: str) -> Network | None:
    if not value.strip():
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=_RANGES_REMEMBERED)
def public_part(network: Network) -> tuple[Network, ...]:
    """The publicly routable parts of `network`."""
    if isinstance(network, ipaddress.IPv4Network):
        parts: list[Network] = [network]
        excluded: Sequence[Network] = _NON_PUBLIC_V4
    else:
        if network.supernet_of(_GLOBAL_UNICAST_V6):
            parts = [_GLOBAL_UNICAST_V6]
        elif network.subnet_of(_GLOBAL_UNICAST_V6):
            parts = [network]
        else:
            return ()
        excluded = _NON_PUBLIC_V6
    for block in excluded:
        parts = [rest for part in parts for rest in _without(part, block)]
    return tuple(parts)


def _without(network: Network, block: Network) -> list[Network]:
    if network.version != block.version or not network.overlaps(block):
        return [network]
    if network.subnet_of(block):  # type: ignore[arg-type]
        return []
    return list(network.address_exclude(block))  # type: ignore[arg-type]


def public_addresses(networks: Iterable[Network], version: int) -> int:
    """How many distinct public addresses of one IP version the networks cover together."""
    return _public_addresses(frozenset(n for n in networks if n.version == version))


@functools.lru_cache(maxsize=4096)
def _public_addresses(networks: frozenset[Network]) -> int:
    # Every tenant's groups repeat the same few sets of ranges; collapsing them is the
    # costly part of the exposure rules, and order or repetition cannot change the count.
    parts = [p for n in networks for p in public_part(n)]
    collapsed: Iterable[Network] = ipaddress.collapse_addresses(parts)  # type: ignore[type-var]
    return sum(n.num_addresses for n in collapsed)


def is_internet(networks: Iterable[Network], size: InternetSize = DEFAULT_SIZE) -> bool:
    """Whether the networks together cover more public addresses than `size` allows."""
    listed = list(networks)
    return any(public_addresses(listed, v) > size.limit(v) for v in (4, 6))


def is_public(network: Network) -> bool:
    return bool(public_part(network))


def protocol_name(value: Any) -> str:
    """`-1`, `all`, `6`, `TCP`... as `all`, `tcp`, `udp`, `icmp`, `icmpv6` or the number."""
    if isinstance(value, bool):
        return ALL
    if isinstance(value, int | float):
        value = str(int(value))
    name = str(value).strip().lower() if isinstance(value, str) else ""
    if not name:
        return ALL  # a rule without a protocol cannot be narrowed: assume everything
    return _PROTOCOL_NAMES.get(name, name)


@dataclass(frozen=True)
class Flow:
    """Traffic one rule allows: a protocol, a port range and the peer networks."""

    source: str
    """The rule it came from, for messages."""
    protocol: str
    ports: tuple[int, int]
    cidrs: tuple[str, ...]
    """The peer ranges as written."""

    @property
    def networks(self) -> list[Network]:
        return [n for c in self.cidrs if (n := parse_network(c)) is not None]

    def describe(self) -> str:
        return describe_traffic(self.protocol, self.ports)


def describe_traffic(protocol: str, ports: tuple[int, int]) -> str:
    """`port 22`, `udp ports 1000-2000`, `protocol icmp`, `all ports`, for messages."""
    if protocol == ALL:
        return "all ports"
    if protocol not in PORT_PROTOCOLS:
        return f"protocol {protocol}"
    prefix = "" if protocol == "tcp" else f"{protocol} "
    first, last = ports
    if first == last:
        return f"{prefix}port {first}"
    return f"{prefix}ports {first}-{last}"


def port_range(protocol: str, first: int | None, last: int | None) -> tuple[int, int]:
    """The ports a rule covers; unset or negative bounds (and non-port protocols) mean all."""
    if protocol not in PORT_PROTOCOLS or first is None or last is None or first < 0 or last < 0:
        return PORTS
    low, high = sorted((min(first, PORTS[1]), min(last, PORTS[1])))
    return (low, high)


@dataclass(frozen=True)
class Exposure:
    """A protocol and port range that the given flows together open to the internet."""

    protocol: str
    ports: tuple[int, int]
    cidrs: tuple[str, ...]
    """Public peer ranges of the contributing flows."""
    sources: tuple[str, ...]
    """The rules that contribute."""

    @property
    def all_ports(self) -> bool:
        return self.protocol == ALL or self.ports == PORTS

    def describe(self) -> str:
        return describe_traffic(self.protocol, self.ports)

    def covers(self, other: Exposure) -> bool:
        """Whether this exposure already includes `other` (same traffic, at least as wide)."""
        if self.protocol == ALL:
            return True
        if self.protocol != other.protocol:
            return False
        return self.ports[0] <= other.ports[0] and other.ports[1] <= self.ports[1]


def _public_cidrs(flows: Iterable[Flow]) -> tuple[str, ...]:
    found = [c for f in flows for c in f.cidrs if (n := parse_network(c)) and is_public(n)]
    return tuple(dict.fromkeys(found))


def _sources(flows: Iterable[Flow]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.source for f in flows))


def _exposure(protocol: str, ports: tuple[int, int], flows: list[Flow]) -> Exposure:
    return Exposure(protocol, ports, _public_cidrs(flows), _sources(flows))


def exposures(flows: Iterable[Flow], size: InternetSize = DEFAULT_SIZE) -> list[Exposure]:
    """What the flows together open to the internet, per protocol and port range.

    When all-protocol rules alone reach the internet, that one exposure says everything.
    Otherwise TCP and UDP are cut into port segments at every rule boundary, each segment
    judged on the union of the rules covering it; adjacent open segments are merged.
    """
    listed = [f for f in flows if f.networks]
    everything = [f for f in listed if f.protocol == ALL]
    if is_internet((n for f in everything for n in f.networks), size):
        return [_exposure(ALL, PORTS, everything)]
    found: list[Exposure] = []
    for protocol in PORT_PROTOCOLS:
        found.extend(_port_exposures(protocol, listed, size))
    others = sorted({f.protocol for f in listed} - {ALL, *PORT_PROTOCOLS})
    for protocol in others:
        relevant = [f for f in listed if f.protocol in (protocol, ALL)]
        if is_internet((n for f in relevant for n in f.networks), size):
            found.append(_exposure(protocol, PORTS, relevant))
    return found


def _port_exposures(protocol: str, flows: list[Flow], size: InternetSize) -> list[Exposure]:
    relevant = [f for f in flows if f.protocol in (protocol, ALL)]
    if not relevant:
        return []
    cuts = sorted({p for f in relevant for p in (f.ports[0], f.ports[1] + 1)})
    merged: list[tuple[tuple[int, int], list[Flow]]] = []
    for low, end in itertools.pairwise(cuts):
        covering = [f for f in relevant if f.ports[0] <= low and end - 1 <= f.ports[1]]
        if not covering or not is_internet((n for f in covering for n in f.networks), size):
            continue
        if merged and merged[-1][0][1] == low - 1:
            (start, _), before = merged[-1]
            merged[-1] = ((start, end - 1), [*before, *(f for f in covering if f not in before)])
        else:
            merged.append(((low, end - 1), covering))
    return [_exposure(protocol, ports, covering) for ports, covering in merged]


def open_ports(exposure: Exposure, allowed: Iterable[int]) -> bool:
    """Whether the exposure opens anything besides the allowed ports."""
    if exposure.protocol not in PORT_PROTOCOLS:
        return True
    allowed_set = set(allowed)
    first, last = exposure.ports
    if last - first + 1 > len(allowed_set):
        return True
    return any(p not in allowed_set for p in range(first, last + 1))


def opens_every_port(exposure: Exposure) -> bool:
    """All traffic of its protocol: every port (port 0 is not usable), or no ports to name."""
    if exposure.protocol in PORT_PROTOCOLS:
        return exposure.ports[0] <= 1 and exposure.ports[1] == PORTS[1]
    return exposure.protocol not in ("icmp", "icmpv6")
