"""Tenant network allocation: blocks from a private pool that never overlap.

Allocations live in `network_allocations`. The caller's transaction serialises allocators:
SQLite transactions hold the write lock from `BEGIN IMMEDIATE`; on PostgreSQL the table is
locked in a mode that admits readers but one allocator at a time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from control_plane.registry.models import NetworkAllocation


class NetworkPoolError(Exception):
    """A network cannot be allocated: the pool is exhausted or the block is taken."""


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE network_allocations IN SHARE ROW EXCLUSIVE MODE"))


def _taken(
    session: Session, elsewhere: Mapping[str, ipaddress.IPv4Network]
) -> list[NetworkAllocation]:
    query = select(NetworkAllocation).order_by(NetworkAllocation.first_address)
    # Networks held by stack files the registry does not know (GitOps tenants) count too.
    unrecorded = [
        NetworkAllocation(
            tenant_id=tenant,
            cidr=str(network),
            first_address=int(network.network_address),
            last_address=int(network.broadcast_address),
        )
        for tenant, network in elsewhere.items()
    ]
    return [*session.scalars(query), *unrecorded]


def _first_free(
    taken: list[NetworkAllocation], pool: ipaddress.IPv4Network, prefix: int
) -> ipaddress.IPv4Network | None:
    """The lowest `/prefix` block of `pool` that overlaps nothing taken.

    One pass over the allocations in address order (O(n log n) with the sort): a candidate
    that overlaps one moves to the first aligned block after it, instead of testing every
    block of the pool against every allocation.
    """
    size = 1 << (32 - prefix)
    candidate = int(pool.network_address)
    for allocation in sorted(taken, key=lambda a: a.first_address):
        if allocation.last_address < candidate:
            continue
        if allocation.first_address > candidate + size - 1:
            break
        candidate = (allocation.last_address // size + 1) * size
    if candidate + size - 1 > int(pool.broadcast_address):
        return None
    return ipaddress.IPv4Network((candidate, prefix))


def _overlapping(
    taken: list[NetworkAllocation], network: ipaddress.IPv4Network
) -> NetworkAllocation | None:
    first, last = int(network.network_address), int(network.broadcast_address)
    return next((a for a in taken if a.first_address <= last and first <= a.last_address), None)


def _record(session: Session, tenant_id: str, network: ipaddress.IPv4Network) -> None:
    session.add(
        NetworkAllocation(
            tenant_id=tenant_id,
            cidr=str(network),
            first_address=int(network.network_address),
            last_address=int(network.broadcast_address),
        )
    )
    session.flush()


def allocate(
    session: Session,
    tenant_id: str,
    pool: ipaddress.IPv4Network,
    prefix: int,
    elsewhere: Mapping[str, ipaddress.IPv4Network] | None = None,
) -> ipaddress.IPv4Network:
    """Give `tenant_id` the lowest `/prefix` block of `pool` no tenant uses.

    `elsewhere` maps other tenants to networks outside the registry (their stack files).
    """
    _lock(session)
    taken = _taken(session, elsewhere or {})
    block = _first_free(taken, pool, prefix)
    if block is not None:
        _record(session, tenant_id, block)
        return block
    raise NetworkPoolError(
        f"network pool {pool} has no free /{prefix} block left ({len(taken)} allocated); "
        f"widen TENANTS_CIDR_POOL or retire tenants"
    )


def reserve(
    session: Session,
    tenant_id: str,
    network: ipaddress.IPv4Network,
    elsewhere: Mapping[str, ipaddress.IPv4Network] | None = None,
) -> None:
    """Record a network the tenant's spec chose itself, if no other tenant overlaps it."""
    _lock(session)
    clash = _overlapping(_taken(session, elsewhere or {}), network)
    if clash is not None:
        raise NetworkPoolError(
            f"network.cidr {network} overlaps {clash.cidr} of tenant {clash.tenant_id!r}; "
            f"leave network.cidr out to get a free block from the pool"
        )
    _record(session, tenant_id, network)


def release(session: Session, tenant_id: str) -> str | None:
    """Return the tenant's block to the pool; the released CIDR, if it held one."""
    allocation = session.get(NetworkAllocation, tenant_id)
    if allocation is None:
        return None
    session.execute(delete(NetworkAllocation).where(NetworkAllocation.tenant_id == tenant_id))
    return allocation.cidr
