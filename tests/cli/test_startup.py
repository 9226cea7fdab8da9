"""`tenantctl --help` imports no engine: commands load their modules when they run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from control_plane.cli import LAZY_COMMANDS, load_command

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {
    "fastapi", "uvicorn", "sqlalchemy", "alembic", "pulumi", "pulumi_aws", "pulumi_policy",
    "boto3", "botocore", "moto", "httpx", "jinja2", "components", "planner", "policies",
}  # fmt: skip

PROBE = """
import runpy, sys
sys.argv = ["tenantctl", "--help"]
try:
    runpy.run_module("control_plane.cli", run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
print(",".join(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def test_help_lists_every_command_without_importing_any_engine() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "COLUMNS": "120", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    imported = set(probe.stderr.strip().split(","))
    assert imported & HEAVY == set()
    for name in LAZY_COMMANDS:
        assert f" {name} " in probe.stdout


def test_every_listed_command_loads_and_every_command_is_listed() -> None:
    for name in LAZY_COMMANDS:
        assert load_command(name).name == name
    by_module: dict[str, set[str]] = {}
    for name, (module, _help) in LAZY_COMMANDS.items():
        by_module.setdefault(module, set()).add(name)
    for module, names in by_module.items():
        holder = typer.Typer()
        holder.callback()(lambda: None)
        __import__(f"control_plane.cli.{module}", fromlist=["register"]).register(holder)
        group = typer.main.get_command(holder)
        assert set(group.commands) == names, module  # type: ignore[attr-defined]
