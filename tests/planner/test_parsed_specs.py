"""Stack files are parsed once: later runs read their specs from the cache by content."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from planner import cache as plan_cache
from planner import stacks as stack_module
from planner.cache import (
    MAX_PARSED_SPECS,
    ParsedSpecs,
    PlanCache,
    PlanInputs,
    collector_paused,
)
from planner.stacks import StackDocument, StackFiles

GOOD = "config:\n  tenants:spec:\n    tenant_id: {name}\n    plan: free\n"


def fleet(root: Path, count: int = 3) -> StackFiles:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = f"t{index}"
        (root / f"Pulumi.{name}.yaml").write_text(GOOD.format(name=name))
    return StackFiles(root)


def read(
    files: StackFiles, cache: PlanCache, inputs: PlanInputs
) -> tuple[list[StackDocument], ParsedSpecs]:
    parsed = ParsedSpecs.load(cache, inputs)
    documents = list(files.documents(parsed=parsed))
    parsed.save()
    return documents, parsed


@pytest.fixture
def inputs() -> PlanInputs:
    return PlanInputs("program-digest", (("pulumi", "1.0.0"),))


@pytest.fixture
def cache(tmp_path: Path) -> PlanCache:
    return PlanCache(tmp_path / "cache").open()


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = stack_module.load_spec_yaml

    def counting(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(stack_module, "load_spec_yaml", counting)
    return parsed


def test_a_second_run_parses_nothing_and_reads_the_same(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fleet(tmp_path / "stacks")
    plain = list(files.documents())
    parses = count_parses(monkeypatch)
    first, _ = read(files, cache, inputs)
    assert len(parses) == 3
    second, parsed = read(files, cache, inputs)
    assert len(parses) == 3  # nothing parsed again
    assert first == second == plain
    assert parsed.added == 0


def test_an_edited_file_is_parsed_again(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fleet(tmp_path / "stacks")
    read(files, cache, inputs)
    parses = count_parses(monkeypatch)
    files.path("t1").write_text(GOOD.format(name="t1").replace("free", "pro"))
    documents, _ = read(files, cache, inputs)
    assert len(parses) == 1
    assert documents[1].spec == {"tenant_id": "t1", "plan": "pro"}


@pytest.mark.parametrize(
    ("field", "why"),
    [
        ("    started: 2024-01-01\n", "a date"),
        ("    flags: !!set {a: null}\n", "a set"),
        ("    codes: {1: one}\n", "an integer key"),
    ],
)
def test_a_spec_json_would_change_is_never_remembered(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, field: str, why: str
) -> None:
    files = fleet(tmp_path / "stacks", 1)
    files.path("t0").write_text(GOOD.format(name="t0") + field)
    plain = list(files.documents())
    for _ in range(2):
        documents, parsed = read(files, cache, inputs)
        assert documents == plain, why
        assert len(parsed) == 0, why


@pytest.mark.parametrize(
    "content",
    [b"config: [unclosed\n", b"config:\n  a: &x 1\n  b: *x\n", b"\xff\xfe not text", b"plain: 1\n"],
    ids=["bad-yaml", "alias", "not-utf8", "no-config"],
)
def test_a_bad_file_is_read_afresh_each_time(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, content: bytes
) -> None:
    files = fleet(tmp_path / "stacks", 1)
    files.path("t0").write_bytes(content)
    for _ in range(2):
        documents, parsed = read(files, cache, inputs)
        assert documents == [StackDocument("t0", files.path("t0"), None)]
        assert len(parsed) == 0
    with pytest.raises(Exception, match="stack 't0'"):
        files.read_spec("t0")


def test_an_oversized_file_is_not_read(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs
) -> None:
    files = fleet(tmp_path / "stacks", 1)
    files.path("t0").write_text(GOOD.format(name="t0") + "#" * 300_000)
    documents, parsed = read(files, cache, inputs)
    assert documents[0].spec is None
    assert len(parsed) == 0


def test_a_code_or_parser_change_starts_afresh(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fleet(tmp_path / "stacks")
    read(files, cache, inputs)
    assert len(ParsedSpecs.load(cache, inputs)) == 3
    changed_code = PlanInputs("another-digest", inputs.versions)
    assert len(ParsedSpecs.load(cache, changed_code)) == 0
    real = plan_cache.version
    monkeypatch.setattr(
        plan_cache, "version", lambda name: "99.0" if name == "PyYAML" else real(name)
    )
    assert len(ParsedSpecs.load(cache, inputs)) == 0


def test_what_a_run_used_is_kept_within_the_bound(
    tmp_path: Path, cache: PlanCache, inputs: PlanInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_cache, "MAX_PARSED_SPECS", 4)
    old = fleet(tmp_path / "old", 4)
    read(old, cache, inputs)
    new = fleet(tmp_path / "new", 3)
    for index in range(3):
        new.path(f"t{index}").write_text(GOOD.format(name=f"n{index}"))
    read(new, cache, inputs)
    kept = ParsedSpecs.load(cache, inputs)
    assert len(kept) == 4
    names = {entry["spec"]["tenant_id"] for entry in kept.known.values()}
    assert {"n0", "n1", "n2"} <= names
    assert MAX_PARSED_SPECS >= 10_000  # the default holds a large fleet


def test_the_collector_is_paused_only_while_reading() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
