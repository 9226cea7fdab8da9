"""Imports point down: a lower layer never imports a higher one (DESIGN.md, layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each room with its rank; a module may import rooms of lower or equal rank only, and never
# a room of equal rank other than its own (rooms side by side stay independent).
LAYERS: dict[str, int] = {
    "components": 0,
    "planner": 1,
    "policies": 2,
    "control_plane.settings": 3,
    "control_plane.files": 3,
    "control_plane.registry": 4,
    "control_plane.logs": 4,
    "control_plane.runners": 5,
    "control_plane.queue": 6,
    "control_plane.cells": 6,
    "control_plane.inventory": 6,
    "control_plane.service": 7,
    "control_plane.billing": 8,
    "control_plane.accounts": 9,
    "control_plane.support": 9,
    "control_plane.ops": 10,
    "control_plane.web": 11,
    "control_plane.demo": 12,
    "control_plane.cli": 13,
}


def _room(module: str) -> str | None:
    matches = [room for room in LAYERS if module == room or module.startswith(room + ".")]
    return max(matches, key=len) if matches else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _violations() -> list[str]:
    found = []
    for top in ("components", "planner", "policies", "control_plane"):
        for path in sorted((ROOT / top).rglob("*.py")):
            own = _room(_module_name(path))
            if own is None:
                continue
            for line, imported in _imports(path):
                target = _room(imported)
                if target is None or target == own:
                    continue
                if LAYERS[target] >= LAYERS[own]:
                    found.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {imported}")
    return found


def test_imports_point_down() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("module", "room"),
    [
        ("control_plane.registry.repository", "control_plane.registry"),
        ("control_plane.cli.tenants", "control_plane.cli"),
        ("planner.program", "planner"),
        ("control_plane", None),
        ("sqlalchemy.orm", None),
    ],
)
def test_rooms_are_found_by_longest_prefix(module: str, room: str | None) -> None:
    assert _room(module) == room
