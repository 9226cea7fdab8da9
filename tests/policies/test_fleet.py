"""Fleet checks: overlapping networks and duplicate tenant ids across stack files."""

from __future__ import annotations

from pathlib import Path

from policies.fleet import StackEntry, fleet_findings, read_fleet


def stack_file(root: Path, stack: str, body: str) -> None:
    (root / f"Pulumi.{stack}.yaml").write_text(body)


def spec(tenant: str, cidr: str) -> str:
    return f"config:\n  tenants:spec:\n    tenant_id: {tenant}\n    network:\n      cidr: {cidr}\n"


def test_read_fleet_tolerates_broken_files(tmp_path: Path) -> None:
    stack_file(tmp_path, "good", spec("good", "10.1.0.0/20"))
    stack_file(tmp_path, "noyaml", "config: [unclosed")
    stack_file(tmp_path, "nospec", "config:\n  other:key: 1\n")
    entries = read_fleet(tmp_path)
    assert [(e.stack, e.tenant_id, e.cidr) for e in entries] == [
        ("good", "good", "10.1.0.0/20"),
        ("nospec", None, None),
        ("noyaml", None, None),
    ]


def entry(stack: str, cidr: str | None, tenant_id: str | None = None) -> StackEntry:
    return StackEntry(stack, f"stacks/Pulumi.{stack}.yaml", tenant_id or stack, cidr)


def test_overlap_is_reported_to_both_selected_tenants() -> None:
    entries = [entry("a", "10.0.0.0/16"), entry("b", "10.0.128.0/20"), entry("c", "10.1.0.0/16")]
    findings = fleet_findings(entries, {}, ["a", "b", "c"])
    assert [(f.tenant, f.policy, f.message) for f in findings] == [
        (
            "a",
            "fleet-network-disallow-overlapping-cidrs",
            "network 10.0.0.0/16 overlaps 10.0.128.0/20 of tenant 'b' (stacks/Pulumi.b.yaml)",
        ),
        (
            "b",
            "fleet-network-disallow-overlapping-cidrs",
            "network 10.0.128.0/20 overlaps 10.0.0.0/16 of tenant 'a' (stacks/Pulumi.a.yaml)",
        ),
    ]
    assert all(f.mandatory for f in findings)


def test_unselected_tenants_still_count_but_are_not_reported() -> None:
    entries = [entry("new", "10.0.0.0/20"), entry("old", "10.0.0.0/16")]
    findings = fleet_findings(entries, {}, ["new"])
    assert [f.tenant for f in findings] == ["new"]


def test_planned_vpc_cidrs_take_part() -> None:
    entries = [entry("a", None), entry("b", "192.168.0.0/20")]
    findings = fleet_findings(entries, {"a": ("192.168.8.0/22",)}, ["a", "b"])
    assert len(findings) == 2


def test_disjoint_and_unparsable_networks_are_quiet() -> None:
    entries = [entry("a", "10.0.0.0/20"), entry("b", "10.0.16.0/20"), entry("c", "not-a-cidr")]
    assert fleet_findings(entries, {}, ["a", "b", "c"]) == []


def test_duplicate_tenant_ids() -> None:
    entries = [entry("acme", "10.0.0.0/20"), entry("acme-copy", "10.1.0.0/20", tenant_id="acme")]
    findings = fleet_findings(entries, {}, ["acme", "acme-copy"])
    assert [(f.tenant, f.policy, f.message) for f in findings] == [
        (
            "acme",
            "fleet-tenant-disallow-duplicate-ids",
            "tenant id 'acme' is also claimed by stacks/Pulumi.acme-copy.yaml",
        ),
        (
            "acme-copy",
            "fleet-tenant-disallow-duplicate-ids",
            "tenant id 'acme' is also claimed by stacks/Pulumi.acme.yaml",
        ),
    ]
