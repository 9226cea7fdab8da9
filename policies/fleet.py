"""Fleet-wide checks no single stack can see: overlapping tenant networks, duplicate tenants.

They read the raw `tenants:spec` of every stack file (so an invalid stack still takes part)
and the VPC CIDRs of the plans, and report on the tenants a run selected.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pulumi_policy import EnforcementLevel, Severity

from planner.quotas import ACCOUNT_SCOPE, QUOTAS_BY_KEY, Scope
from planner.stacks import StackDocument, StackFiles
from policies.frameworks import Control, iso, pci, soc2
from policies.gate import Finding

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GateRule:
    """A rule the gate applies outside the pack (fleet checks, stack validity)."""

    name: str
    description: str
    severity: Severity
    remediation: str
    controls: tuple[Control, ...]

    def finding(
        self, tenant: str, message: str, *, urn: str | None = None, resource: str | None = None
    ) -> Finding:
        return Finding(
            tenant=tenant,
            policy=self.name,
            enforcement=EnforcementLevel.MANDATORY.value,
            severity=self.severity.value,
            message=message,
            description=self.description,
            remediation=self.remediation,
            urn=urn,
            resource_name=resource,
            controls=self.controls,
        )


OVERLAPPING_CIDRS = GateRule(
    name="fleet-network-disallow-overlapping-cidrs",
    description="Tenant networks never overlap across the fleet.",
    severity=Severity.HIGH,
    remediation="Allocate a free CIDR from the pool (the control plane's allocator) and "
    "update network.cidr in the stack file.",
    controls=(pci("1.2.1"), soc2("CC6.6"), iso("A.8.22")),
)
DUPLICATE_TENANTS = GateRule(
    name="fleet-tenant-disallow-duplicate-ids",
    description="Each tenant id belongs to exactly one stack.",
    severity=Severity.CRITICAL,
    remediation="Give each stack file its own tenant_id, equal to its stack name.",
    controls=(soc2("CC6.1"), iso("A.5.9")),
)
INVALID_STACK = GateRule(
    name="tenant-stack-configure-valid-spec",
    description="Every stack file holds a valid tenant spec the program can plan.",
    severity=Severity.HIGH,
    remediation="Fix the listed fields of tenants:spec in the stack file.",
    controls=(soc2("CC8.1"), iso("A.8.9")),
)
CELL_OVER_QUOTA = GateRule(
    name="fleet-cell-disallow-exceeded-quota",
    description="The tenants placed in a cell together stay within each of its service quotas.",
    severity=Severity.HIGH,
    remediation="Raise the quota in the cell's account (then `tenantctl cells refresh`), or "
    "keep the change out of this cell; new tenants are placed by the control plane.",
    controls=(soc2("A1.1"), iso("A.8.6")),
)
UNSYNCED_STACK = GateRule(
    name="fleet-stack-disallow-unsynced-edit",
    description="A registered tenant's stack file holds the registry's desired spec: an "
    "edit is taken in by `tenantctl sync` before it is what gets deployed.",
    severity=Severity.HIGH,
    remediation="Run `tenantctl sync TENANT` (the workflow does on merge) to make the edit "
    "the desired spec, or restore the file from the registry (`tenantctl tenants show`).",
    controls=(soc2("CC8.1"), iso("A.8.32")),
)
"""Reported by the control plane (it reads the registry); the gate never imports it."""
GATE_RULES = (OVERLAPPING_CIDRS, DUPLICATE_TENANTS, INVALID_STACK, CELL_OVER_QUOTA, UNSYNCED_STACK)


@dataclass(frozen=True)
class StackEntry:
    """What the fleet checks need from one stack file, read without validation."""

    stack: str
    stack_file: str
    tenant_id: str | None
    cidr: str | None

    @classmethod
    def of(cls, document: StackDocument) -> StackEntry:
        spec = document.spec_mapping
        network = spec.get("network")
        cidr = network.get("cidr") if isinstance(network, dict) else None
        tenant_id = spec.get("tenant_id")
        return cls(
            stack=document.stack,
            stack_file=str(document.path),
            tenant_id=str(tenant_id) if tenant_id is not None else None,
            cidr=str(cidr) if cidr is not None else None,
        )


def read_fleet(stacks_dir: Path) -> list[StackEntry]:
    """Every `Pulumi.<stack>.yaml` of the directory, in name order."""
    return [StackEntry.of(d) for d in StackFiles(stacks_dir).documents()]


def _networks(values: Iterable[str]) -> set[Network]:
    found: set[Network] = set()
    for value in values:
        network = _network(value)
        if network is not None:
            found.add(network)
    return found


@functools.lru_cache(maxsize=65_536)
def _network(value: str) -> Network | None:
    """A stack's range is usually also its planned VPC's: each text is parsed once."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None  # an unparsable CIDR is the spec validation's finding, not ours


def _overlapping_pairs(networks: list[set[Network]]) -> dict[tuple[int, int], tuple[str, str]]:
    """For each pair of owners (by index) whose networks overlap, the first such pair.

    CIDR blocks either nest or are disjoint, so a sweep in address order keeps a stack of
    the blocks enclosing the current one: every block still on it overlaps the current
    one. O(n log n) plus the overlaps found, instead of comparing every pair.
    """
    blocks = sorted(
        (net.version, int(net.network_address), -int(net.broadcast_address), owner, str(net))
        for owner, owned in enumerate(networks)
        for net in owned
    )
    enclosing: list[tuple[int, int, int, str]] = []
    first: dict[tuple[int, int], tuple[str, str]] = {}
    for version, start, negative_end, owner, cidr in blocks:
        while enclosing and (enclosing[-1][0] != version or enclosing[-1][1] < start):
            enclosing.pop()
        for _version, _end, other, other_cidr in enclosing:
            if other == owner:
                continue
            pair, cidrs = (
                ((other, owner), (other_cidr, cidr))
                if other < owner
                else ((owner, other), (cidr, other_cidr))
            )
            if pair not in first or cidrs < first[pair]:
                first[pair] = cidrs
        enclosing.append((version, -negative_end, owner, cidr))
    return first


def fleet_findings(
    entries: list[StackEntry],
    plan_cidrs: Mapping[str, tuple[str, ...]],
    selected: Iterable[str],
) -> list[Finding]:
    """Overlaps and duplicates that involve at least one selected stack."""
    chosen = set(selected)
    findings: list[Finding] = []
    networks = [
        _networks([*([e.cidr] if e.cidr else []), *plan_cidrs.get(e.stack, ())]) for e in entries
    ]
    for (i, j), (mine, theirs) in sorted(_overlapping_pairs(networks).items()):
        a, b = entries[i], entries[j]
        if a.stack in chosen:
            findings.append(
                OVERLAPPING_CIDRS.finding(
                    a.stack,
                    f"network {mine} overlaps {theirs} of tenant {b.stack!r} ({b.stack_file})",
                )
            )
        if b.stack in chosen:
            findings.append(
                OVERLAPPING_CIDRS.finding(
                    b.stack,
                    f"network {theirs} overlaps {mine} of tenant {a.stack!r} ({a.stack_file})",
                )
            )

    by_id: dict[str, list[StackEntry]] = {}
    for entry in entries:
        by_id.setdefault((entry.tenant_id or entry.stack).lower(), []).append(entry)
    for tenant_id, group in sorted(by_id.items()):
        if len(group) < 2:
            continue
        for entry in group:
            if entry.stack not in chosen:
                continue
            others = ", ".join(o.stack_file for o in group if o is not entry)
            findings.append(
                DUPLICATE_TENANTS.finding(
                    entry.stack, f"tenant id {tenant_id!r} is also claimed by {others}"
                )
            )
    return findings


class CellQuotasError(ValueError):
    """The cells file is not what `tenantctl cells list --json` writes."""


@dataclass(frozen=True)
class CellQuotas:
    """One cell's quota values: `{scope: {quota key: value}}` (scope: a region or `account`)."""

    name: str
    values: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class CellUse:
    """What one checked stack takes from its cell's quotas (counted in its plan)."""

    stack: str
    cell: str
    region: str
    consumption: Mapping[str, int]


def read_cell_quotas(path: Path) -> list[CellQuotas]:
    """The quota values in a `tenantctl cells list --json` file."""
    try:
        document = json.loads(path.read_text())
        cells = []
        for cell in document:
            values: dict[str, dict[str, float]] = {}
            for use in cell["use"]:
                values.setdefault(str(use["scope"]), {})[str(use["quota"])] = float(use["value"])
            cells.append(CellQuotas(name=str(cell["name"]), values=values))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CellQuotasError(
            f"{path} is not a cells file (`tenantctl cells list --json`): {error}"
        ) from None
    return cells


def cell_quota_findings(
    uses: Iterable[CellUse], cells: Iterable[CellQuotas], selected: Iterable[str]
) -> list[Finding]:
    """Selected stacks in a cell whose checked tenants together exceed one of its quotas."""
    chosen = set(selected)
    known = {c.name: c for c in cells}
    by_cell: dict[str, list[CellUse]] = {}
    findings: list[Finding] = []
    for use in uses:
        if use.cell not in known:
            if use.stack in chosen:
                listed = ", ".join(sorted(known)) or "none"
                findings.append(
                    CELL_OVER_QUOTA.finding(
                        use.stack, f"cell {use.cell!r} is not in the cells file (cells: {listed})"
                    )
                )
            continue
        by_cell.setdefault(use.cell, []).append(use)
    for name, group in sorted(by_cell.items()):
        for scope, values in sorted(known[name].values.items()):
            for key, value in sorted(values.items()):
                quota = QUOTAS_BY_KEY.get(key)
                if quota is None:
                    continue
                takers = [
                    u
                    for u in group
                    if u.consumption.get(key)
                    and (
                        u.region == scope
                        or (quota.scope is Scope.ACCOUNT and scope == ACCOUNT_SCOPE)
                    )
                ]
                total = sum(u.consumption[key] for u in takers)
                if total <= value:
                    continue
                tenants = ", ".join(u.stack for u in takers)
                for use in takers:
                    if use.stack in chosen:
                        findings.append(
                            CELL_OVER_QUOTA.finding(
                                use.stack,
                                f"cell {name!r}: {quota.title} in {scope} would be {total} of "
                                f"quota {value:g} (tenants {tenants})",
                            )
                        )
    return findings
