"""Chooses the stack runner from the settings: deploy with the CLI, or plan offline."""

from __future__ import annotations

import shutil

from control_plane.runners.automation import AutomationRunner
from control_plane.runners.base import RunnerError, StackRunner
from control_plane.runners.offline import OfflineRunner
from control_plane.settings import RunnerMode, Settings


def make_runner(settings: Settings) -> StackRunner:
    """`auto` deploys through the Automation API when `pulumi` is on PATH, else plans offline."""
    has_cli = shutil.which("pulumi") is not None
    if settings.runner is RunnerMode.OFFLINE or (
        settings.runner is RunnerMode.AUTO and not has_cli
    ):
        return OfflineRunner(settings.data_dir)
    if not has_cli:
        raise RunnerError(
            "TENANTS_RUNNER=automation needs the pulumi CLI on PATH; install it "
            "(https://www.pulumi.com/docs/install/) or set TENANTS_RUNNER=auto or offline"
        )
    return AutomationRunner(settings.data_dir, backend_url=settings.backend_url or None)
