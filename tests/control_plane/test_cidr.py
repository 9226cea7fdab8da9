"""The network pool: the lowest free block, found in one pass, and room for 4,096 tenants."""

from __future__ import annotations

import ipaddress
import random

from control_plane.registry.cidr import _first_free, _overlapping
from control_plane.registry.models import NetworkAllocation
from control_plane.settings import Settings


def allocation(cidr: str) -> NetworkAllocation:
    network = ipaddress.IPv4Network(cidr)
    return NetworkAllocation(
        tenant_id=cidr,
        cidr=cidr,
        first_address=int(network.network_address),
        last_address=int(network.broadcast_address),
    )


def brute_force(
    taken: list[NetworkAllocation], pool: ipaddress.IPv4Network, prefix: int
) -> ipaddress.IPv4Network | None:
    return next(
        (b for b in pool.subnets(new_prefix=prefix) if _overlapping(taken, b) is None), None
    )


def test_first_free_block_matches_trying_every_block() -> None:
    pool = ipaddress.IPv4Network("10.64.0.0/16")
    chooser = random.Random(7)
    for _ in range(200):
        taken = [
            allocation(str(ipaddress.IPv4Network((address, length), strict=False)))
            for address, length in (
                (f"10.{chooser.choice([63, 64, 64, 64])}.{chooser.randrange(256)}.0",
                 chooser.choice([18, 20, 22, 24]))
                for _ in range(chooser.randrange(0, 40))
            )
        ]  # fmt: skip
        prefix = chooser.choice([20, 22])
        assert _first_free(taken, pool, prefix) == brute_force(taken, pool, prefix)


def test_default_pool_holds_4096_tenants_without_overlap() -> None:
    settings = Settings()
    pool, prefix = settings.cidr_pool, settings.cidr_block_prefix
    blocks = list(pool.subnets(new_prefix=prefix))
    assert len(blocks) >= 4096
    taken = [allocation(str(b)) for b in blocks]
    random.Random(3).shuffle(taken)
    assert _first_free(taken[1:], pool, prefix) == ipaddress.IPv4Network(taken[0].cidr)
    assert _first_free(taken, pool, prefix) is None
