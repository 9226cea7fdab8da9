"""The plan cache: every part of the key counts, entries are whole, the size is bounded."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from planner import cache as plan_cache
from planner.cache import PINNED_PACKAGES, PlanCache
from policies.config import PackConfig, parse_pack_config
from policies.pack import ALL_POLICIES
from policies.runner import CheckInputs, CheckKeys

SPEC: dict[str, Any] = {"tenant_id": "acme", "plan": "pro", "network": {"cidr": "10.64.0.0/22"}}


def project(root: Path) -> Path:
    """A minimal project tree: the program, a component, the planner and a policy."""
    for name, text in {
        "__main__.py": "print('program')\n",
        "Pulumi.yaml": "name: tenants\n",
        "components/network/vpc.py": "VPC = 1\n",
        "planner/program.py": "MOCKS = 1\n",
        "policies/rules/s3.py": "RULE = 1\n",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def keys(root: Path, spec: dict[str, Any] = SPEC, pack: PackConfig | None = None) -> CheckKeys:
    return CheckInputs.of_project(pack, root=root).keys("acme", spec)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return project(tmp_path / "project")


def test_same_inputs_same_keys(root: Path) -> None:
    assert keys(root) == keys(root)
    assert keys(root, {**SPEC}) == keys(root)


def test_spec_is_part_of_both_keys(root: Path) -> None:
    changed = keys(root, {**SPEC, "plan": "enterprise"})
    assert changed.plan != keys(root).plan
    assert changed.report != keys(root).report


@pytest.mark.parametrize(
    "source",
    ["__main__.py", "Pulumi.yaml", "components/network/vpc.py", "planner/program.py"],
)
def test_program_and_component_sources_are_part_of_both_keys(root: Path, source: str) -> None:
    before = keys(root)
    with (root / source).open("a") as file:
        file.write("# a comment is a change too\n")
    after = keys(root)
    assert after.plan != before.plan
    assert after.report != before.report


def test_a_new_component_file_changes_the_keys(root: Path) -> None:
    before = keys(root)
    (root / "components" / "mail.py").write_text("MAIL = 1\n")
    assert keys(root).plan != before.plan


def test_policy_sources_change_the_report_key_only(root: Path) -> None:
    before = keys(root)
    (root / "policies" / "rules" / "s3.py").write_text("RULE = 2\n")
    after = keys(root)
    assert after.plan == before.plan
    assert after.report != before.report


def test_pack_config_changes_the_report_key_only(root: Path) -> None:
    configured = parse_pack_config({"all": "advisory"}, ALL_POLICIES)
    properties = parse_pack_config(
        {"aws-vpc-security-group-disallow-public-ingress": {"allowedPorts": [443]}},
        ALL_POLICIES,
    )
    base = keys(root)
    assert keys(root, pack=configured).plan == base.plan
    assert (
        len({base.report, keys(root, pack=configured).report, keys(root, pack=properties).report})
        == 3
    )


def test_bytecode_is_not_part_of_the_key(root: Path) -> None:
    before = keys(root)
    cached = root / "components" / "__pycache__" / "vpc.cpython-311.pyc"
    cached.parent.mkdir()
    cached.write_bytes(b"\0compiled")
    assert keys(root) == before


@pytest.mark.parametrize("package", ["pulumi", "pulumi-aws", "pulumi-random", "pulumi-policy"])
def test_installed_versions_are_part_of_both_keys(
    root: Path, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert package in PINNED_PACKAGES
    before = keys(root)
    real = plan_cache.version
    monkeypatch.setattr(
        plan_cache, "version", lambda name: "99.0.0" if name == package else real(name)
    )
    after = keys(root)
    assert after.plan != before.plan
    assert after.report != before.report


def test_entries_round_trip_and_a_foreign_entry_is_a_miss(tmp_path: Path) -> None:
    store = PlanCache(tmp_path / "cache").open()
    key = "ab" + "0" * 62
    assert store.get(key) is None
    store.put(key, {"resources": [1, 2.5, "x"]})
    assert store.get(key) == {"resources": [1, 2.5, "x"]}
    # An entry copied under another name (or corrupted) is never served.
    other = "ab" + "1" * 62
    (tmp_path / "cache" / "ab" / other).write_bytes((tmp_path / "cache" / "ab" / key).read_bytes())
    assert store.get(other) is None
    (tmp_path / "cache" / "ab" / key).write_bytes(b"not zlib")
    assert store.get(key) is None


def test_cache_files_are_private(tmp_path: Path) -> None:
    store = PlanCache(tmp_path / "cache").open()
    store.put("cd" + "0" * 62, {"x": 1})
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0
    assert (tmp_path / "cache" / "cd" / ("cd" + "0" * 62)).stat().st_mode & 0o077 == 0


def test_trim_keeps_the_most_recently_used_within_the_bound(tmp_path: Path) -> None:
    store = PlanCache(tmp_path / "cache", max_bytes=3_000).open()
    names = [f"{i:02x}" + "e" * 62 for i in range(10)]
    for age, name in enumerate(names):
        store.put(name, {"payload": os.urandom(300).hex()})
        entry = tmp_path / "cache" / name[:2] / name
        os.utime(entry, (1_000_000 + age, 1_000_000 + age))
    assert store.get(names[0]) is not None  # used just now: the newest
    removed = store.trim()
    kept = [n for n in names if store.contains(n)]
    assert removed == len(names) - len(kept) > 0
    assert names[0] in kept
    assert kept[-1] == names[-1]
    assert sum(f.stat().st_size for f in (tmp_path / "cache").rglob("*") if f.is_file()) <= 3_000


def test_an_unwritable_cache_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(plan_cache.CacheError, match="cannot create plan cache"):
        PlanCache(blocker / "cache").open()


def _fill(root: str, writer: int, count: int) -> None:
    store = PlanCache(Path(root))
    for i in range(count):
        # Both writers write every key, with values that differ only in who wrote them.
        store.put(f"{i:04x}" + "f" * 60, {"index": i, "writer": writer, "pad": "x" * 4000})


def test_two_processes_filling_the_cache_at_once_leave_it_consistent(tmp_path: Path) -> None:
    store = PlanCache(tmp_path / "cache").open()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_fill, args=(str(store.root), w, 300)) for w in range(2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    for i in range(300):
        value = store.get(f"{i:04x}" + "f" * 60)
        assert value is not None and value["index"] == i and value["writer"] in (0, 1)
    assert not list(store.root.rglob("*.tmp")), "a temporary file was left behind"
