"""A cell's capacity and use: each quota's value less the headroom, against what its live
tenants' plans reserve there. Pure arithmetic over registry rows; no cloud calls."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from planner.quotas import ACCOUNT_SCOPE, QUOTAS, Quota, Scope


@dataclass(frozen=True)
class QuotaUse:
    """One quota of one cell, in one region (or account-wide)."""

    quota: str
    title: str
    scope: str
    """The region, or `account`."""
    used: int
    limit: int
    """The quota's value less the headroom, rounded down."""
    value: float
    """The quota's value as read."""

    @property
    def free(self) -> int:
        return self.limit - self.used

    @property
    def ratio(self) -> float:
        return self.used / self.limit if self.limit > 0 else math.inf


@dataclass(frozen=True)
class Placed:
    """What a placed, not retired tenant reserves in its cell."""

    tenant_id: str
    region: str
    consumption: Mapping[str, int]


def usable(value: float, headroom_percent: int) -> int:
    """The units a quota leaves for tenants once the headroom is kept free."""
    return math.floor(value * (100 - headroom_percent) / 100)


def _scope_of(quota: Quota, region: str) -> str:
    return ACCOUNT_SCOPE if quota.scope is Scope.ACCOUNT else region


def cell_use(
    quotas: Mapping[str, Any],
    headroom_percent: int,
    regions: Iterable[str],
    placed: Iterable[Placed],
) -> list[QuotaUse]:
    """Use against every quota of a cell: per served region, then the account-wide ones."""
    tenants = list(placed)
    rows: list[QuotaUse] = []
    scopes = [*regions, ACCOUNT_SCOPE]
    for scope in scopes:
        values = quotas.get(scope) or {}
        for quota in QUOTAS:
            if (quota.scope is Scope.ACCOUNT) != (
                scope == ACCOUNT_SCOPE
            ) or quota.key not in values:
                continue
            used = sum(
                int(t.consumption.get(quota.key, 0))
                for t in tenants
                if _scope_of(quota, t.region) == scope
            )
            value = float(values[quota.key])
            rows.append(
                QuotaUse(
                    quota=quota.key,
                    title=quota.title,
                    scope=scope,
                    used=used,
                    limit=usable(value, headroom_percent),
                    value=value,
                )
            )
    return rows


def shortfalls(
    use: Iterable[QuotaUse], region: str, need: Mapping[str, int]
) -> list[tuple[QuotaUse, int]]:
    """(quota, units needed) for every quota of `region` too full to take `need` more."""
    short = []
    for row in use:
        wanted = int(need.get(row.quota, 0))
        if wanted and row.scope in (region, ACCOUNT_SCOPE) and row.used + wanted > row.limit:
            short.append((row, wanted))
    return short


def missing_quotas(quotas: Mapping[str, Any], region: str, need: Mapping[str, int]) -> list[str]:
    """Quotas `need` uses that were never read for the region (a cell can not vouch for them)."""
    missing = []
    for key in need:
        quota = next((q for q in QUOTAS if q.key == key), None)
        scope = ACCOUNT_SCOPE if quota is not None and quota.scope is Scope.ACCOUNT else region
        if key not in (quotas.get(scope) or {}):
            missing.append(f"{key} ({scope})")
    return missing


def fill(use: Iterable[QuotaUse], region: str) -> float:
    """How full the cell is for a tenant of `region`: its fullest quota's share."""
    return max((row.ratio for row in use if row.scope in (region, ACCOUNT_SCOPE)), default=0.0)


def describe_shortfall(cell: str, row: QuotaUse, wanted: int) -> str:
    return (
        f"{cell}: {row.title} in {row.scope} would be {row.used + wanted} of {row.limit} "
        f"(quota {row.value:g} less headroom)"
    )
