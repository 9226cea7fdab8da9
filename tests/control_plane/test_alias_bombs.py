"""YAML alias bombs are refused at every place a tenant spec or stack file is read, in
bounded memory, and no error ever echoes an expanded value.

The bomb is a few hundred bytes of nested aliases: nine references to nine references to
... a list, which expands to 9**LEVELS strings once validated or printed.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from components.stack_config import (
    MAX_SPEC_FILE_BYTES,
    InvalidStackError,
    RefusedYamlError,
    load_spec_yaml,
)
from control_plane.cli import app
from planner.stacks import StackFiles
from policies.runner import check_stack_file

LEVELS = 6
"""531441 strings once expanded: seconds and megabytes before the fix, nothing after."""
PEAK_BYTES = 4_000_000
"""Python memory an entry point may use to refuse the bomb (opening the registry included)."""
MAX_OUTPUT = 2_000
T = TypeVar("T")


def alias_bomb(levels: int = LEVELS) -> str:
    """`[&l0 [x, ...], &l1 [*l0, ...], ...]`: each level nine aliases of the one below."""
    chain = ["&l0 [x, x, x, x, x, x, x, x, x]"]
    chain += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return f"[{', '.join(chain)}]"


def spec_yaml(tenant_id: str, indent: str = "") -> str:
    lines = [
        f"tenant_id: {tenant_id}",
        "plan: starter",
        "region: eu-west-1",
        "residency: eu",
        "network: {cidr: 10.80.0.0/20}",
        f"display_name: {alias_bomb()}",
    ]
    return "".join(f"{indent}{line}\n" for line in lines)


def write_bomb_stack(stacks: Path, tenant_id: str = "bomb") -> Path:
    stacks.mkdir(parents=True, exist_ok=True)
    path = stacks / f"Pulumi.{tenant_id}.yaml"
    path.write_text("config:\n  tenants:spec:\n" + spec_yaml(tenant_id, indent="    "))
    return path


def bounded(call: Callable[[], T]) -> T:
    """Run `call`, failing if its Python allocations peak above `PEAK_BYTES`."""
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"peaked at {peak / 1e6:.1f} MB"
    return result


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    return tmp_path / "stacks"


@pytest.fixture
def tenantctl(tmp_path: Path, stacks: Path) -> Iterator[Callable[..., Result]]:
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(stacks),
        "TENANTS_RUNNER": "offline",
        "COLUMNS": "300",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    invoke("tenants", "list")  # the registry exists before memory is measured
    yield invoke


def assert_refused(output: str) -> None:
    assert "anchors and aliases (&name, *name) are not allowed" in output
    assert len(output) < MAX_OUTPUT, f"{len(output)} characters printed"
    assert "Traceback" not in output


def test_the_loader_refuses_anchors_and_aliases_where_it_meets_them() -> None:
    with pytest.raises(RefusedYamlError, match="line 2, column 4: YAML anchors and aliases"):
        load_spec_yaml("a: 1\nb: &x [1]\n")
    with pytest.raises(RefusedYamlError, match="line 1, column 4"):
        load_spec_yaml("a: *x\n")
    assert load_spec_yaml("a: [1, {b: c}]\n") == {"a": [1, {"b": "c"}]}


def test_an_oversized_file_is_refused_before_it_is_parsed(stacks: Path) -> None:
    stacks.mkdir()
    (stacks / "Pulumi.big.yaml").write_text("config: {}\n" + "#" * MAX_SPEC_FILE_BYTES)

    with pytest.raises(InvalidStackError, match="larger than 256 KiB"):
        StackFiles(stacks).read_spec("big")


def test_stack_files_refuse_the_bomb(stacks: Path) -> None:
    write_bomb_stack(stacks)

    with pytest.raises(InvalidStackError) as refused:
        bounded(lambda: StackFiles(stacks).read_spec("bomb"))

    assert_refused(str(refused.value))


def test_the_gate_reports_the_bomb_as_an_invalid_stack(stacks: Path) -> None:
    path = write_bomb_stack(stacks)

    report = bounded(lambda: check_stack_file(path))

    assert not report.passed
    [finding] = report.findings
    assert_refused(finding.message)


def test_create_from_a_spec_file_refuses_the_bomb(
    tenantctl: Callable[..., Result], tmp_path: Path
) -> None:
    spec_file = tmp_path / "bomb.yaml"
    spec_file.write_text(spec_yaml("bomb"))

    result = bounded(lambda: tenantctl("tenants", "create", "bomb", "--spec-file", str(spec_file)))

    assert result.exit_code == 1
    assert_refused(result.output)


def test_create_from_a_stack_file_refuses_the_bomb(
    tenantctl: Callable[..., Result], stacks: Path
) -> None:
    write_bomb_stack(stacks)

    result = bounded(lambda: tenantctl("tenants", "create", "bomb", "--from-stack"))

    assert result.exit_code == 1
    assert_refused(result.output)


def test_an_unrelated_create_is_not_slowed_by_a_bomb_in_the_stacks(
    tenantctl: Callable[..., Result], stacks: Path
) -> None:
    write_bomb_stack(stacks)

    result = bounded(
        lambda: tenantctl(
            "tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1", "--json"
        )
    )

    assert result.exit_code == 0, result.output
    assert len(result.output) < 20 * MAX_OUTPUT


@pytest.mark.parametrize("how", ["--spec-file", "--set"])
def test_an_update_refuses_the_bomb(
    tenantctl: Callable[..., Result], tmp_path: Path, how: str
) -> None:
    assert tenantctl("tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1")
    spec_file = tmp_path / "bomb.yaml"
    spec_file.write_text(f"display_name: {alias_bomb()}\n")
    args: list[Any] = ["--spec-file", str(spec_file)]
    if how == "--set":
        args = ["--set", f"display_name={alias_bomb()}"]

    result = bounded(lambda: tenantctl("tenants", "update", "acme", *args))

    assert result.exit_code == 1
    assert_refused(result.output)


def test_a_spec_file_that_is_not_utf8_is_refused_in_one_line(
    tenantctl: Callable[..., Result], tmp_path: Path
) -> None:
    spec_file = tmp_path / "latin1.yaml"
    spec_file.write_bytes("tenant_id: caf\xe9\nplan: free\n".encode("latin-1"))

    result = tenantctl("tenants", "create", "cafe", "--spec-file", str(spec_file))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "is not UTF-8 text" in result.output
