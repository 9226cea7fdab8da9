"""Files of the data directory are private whatever the umask; stack files keep the
repository's modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from components.spec import TenantSpec
from control_plane.queue.worker import Worker
from control_plane.registry.database import open_database
from control_plane.runners.automation import (
    REPO_ROOT,
    WorkspaceLayout,
    project_settings,
    stack_config,
    write_project,
    write_stack_config,
)
from control_plane.runners.offline import OfflineRunner
from control_plane.service import TenantService
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import allow_all, make_settings, spec_data


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The worst case: a process whose umask takes nothing away."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_registry_and_plans_are_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "fresh")
    data = settings.data_dir
    database = open_database(settings.registry_url)
    try:
        service = TenantService(database, settings)
        service.create(spec_data("acme"), actor="test")
        runner = OfflineRunner(data, allow_all)
        Worker(database, settings, runner).drain()
        # The WAL files exist while a connection is open.
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            db = data / "tenants.db"
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), data / "plans" / "acme.json"]
            assert {f.name: mode(f) for f in files} == dict.fromkeys((f.name for f in files), 0o600)
    finally:
        database.dispose()

    for directory in (tmp_path / "fresh", data, data / "plans"):
        assert mode(directory) == 0o700, directory
    assert {p.name: mode(p) for p in (data / "plans").iterdir()} == {
        "acme.json": 0o600,
        ".acme.lock": 0o600,
    }


def test_workspaces_and_state_are_private(tmp_path: Path) -> None:
    layout = WorkspaceLayout(tmp_path / "data")
    spec = TenantSpec.model_validate({**spec_data("acme"), "network": {"cidr": "10.64.0.0/20"}})

    workspace = write_project(layout, "acme", project_settings(REPO_ROOT))
    write_stack_config(layout.stack_file("acme"), stack_config(spec, None))

    for directory in (layout.data_dir, workspace, layout.state_dir):
        assert mode(directory) == 0o700, directory
    assert mode(layout.project_file("acme")) == 0o600
    assert mode(layout.stack_file("acme")) == 0o600


def test_stack_files_keep_the_repository_modes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    database = open_database(settings.registry_url)
    stacks = StackFiles(settings.stacks_dir)
    try:
        service = TenantService(database, settings, stacks)
        service.create(spec_data("acme"), actor="test")
        assert mode(stacks.path("acme")) == 0o644  # a new one: git's regular mode
        stacks.path("acme").chmod(0o640)
        service.update("acme", {"compute": {"max_size": 2}}, actor="test")
        assert mode(stacks.path("acme")) == 0o640
    finally:
        database.dispose()
