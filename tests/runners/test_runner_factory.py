"""Which runner the settings give: deploy with the CLI, plan without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from control_plane.registry.runs import RunMode
from control_plane.runners.automation import AutomationRunner
from control_plane.runners.base import RunnerError
from control_plane.runners.factory import make_runner
from control_plane.runners.offline import OfflineRunner
from control_plane.settings import RunnerMode, Settings


def _cli(monkeypatch: pytest.MonkeyPatch, present: bool) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/local/bin/{name}" if present else None)


def _settings(data_dir: Path, runner: RunnerMode, backend_url: str = "") -> Settings:
    return Settings(data_dir=data_dir, runner=runner, backend_url=backend_url)


def test_auto_plans_offline_without_the_cli(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _cli(monkeypatch, present=False)

    runner = make_runner(_settings(data_dir, RunnerMode.AUTO))

    assert isinstance(runner, OfflineRunner)
    assert runner.mode is RunMode.PLAN
    assert runner.store.directory == data_dir / "plans"


def test_auto_deploys_with_the_cli(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    _cli(monkeypatch, present=True)

    runner = make_runner(_settings(data_dir, RunnerMode.AUTO))

    assert isinstance(runner, AutomationRunner)
    assert runner.mode is RunMode.DEPLOY
    assert runner.layout.data_dir == data_dir.resolve()


def test_offline_is_honoured_even_with_the_cli(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _cli(monkeypatch, present=True)

    assert isinstance(make_runner(_settings(data_dir, RunnerMode.OFFLINE)), OfflineRunner)


def test_automation_without_the_cli_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _cli(monkeypatch, present=False)

    with pytest.raises(RunnerError, match=r"needs the pulumi CLI on PATH.*TENANTS_RUNNER=auto"):
        make_runner(_settings(data_dir, RunnerMode.AUTOMATION))


def test_a_configured_backend_reaches_the_automation_runner(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _cli(monkeypatch, present=True)
    settings = _settings(data_dir, RunnerMode.AUTOMATION, "s3://tenant-state")

    runner = make_runner(settings)

    assert isinstance(runner, AutomationRunner)
    assert runner.backend_url == "s3://tenant-state"
