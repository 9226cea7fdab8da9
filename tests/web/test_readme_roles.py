"""The README's authorization table says what `control_plane/accounts/roles.py` decides:
every permission, every role, the same cells."""

from __future__ import annotations

import re
from pathlib import Path

from control_plane.accounts.roles import PERMISSIONS, Permission

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| permission | owner | admin | member | billing | viewer | operator | support | auditor |"


def _readme_table() -> dict[Permission, set[str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER)
    roles = [cell.strip() for cell in HEADER.strip("|").split("|")][1:]
    table: dict[Permission, set[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        allowed = {role for role, cell in zip(roles, cells[1:], strict=True) if cell == "yes"}
        for name in re.findall(r"`([a-z.]+)`", cells[0]):
            table[Permission(name)] = allowed
    return table


def test_the_readme_table_is_the_code_table() -> None:
    code = {
        permission: {role.value for role, granted in PERMISSIONS.items() if permission in granted}
        for permission in Permission
    }
    assert _readme_table() == code
