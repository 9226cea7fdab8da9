"""Chooses the stack runner from the settings: deploy with the CLI, or plan offline."""

from __future__ import annotations

import functools
import shutil

from control_plane.runners.automation import AutomationRunner
from control_plane.runners.base import RunnerError, StackRunner
from control_plane.runners.offline import OfflineRunner, pack_violations
from control_plane.settings import RunnerMode, Settings
from policies.config import PackConfig, PackConfigError, load_pack_config
from policies.pack import ALL_POLICIES


def make_runner(settings: Settings) -> StackRunner:
    """`auto` deploys through the Automation API when `pulumi` is on PATH, else plans offline."""
    pack_config = policy_config(settings)
    if not deploys(settings):
        return OfflineRunner(
            settings.data_dir, functools.partial(pack_violations, pack_config=pack_config)
        )
    return AutomationRunner(
        settings.data_dir,
        backend_url=settings.backend_url or None,
        policy_config=settings.policy_config,
    )


def deploys(settings: Settings) -> bool:
    """Whether stack operations run through the Automation API (else offline plans)."""
    has_cli = shutil.which("pulumi") is not None
    if settings.runner is RunnerMode.OFFLINE or (
        settings.runner is RunnerMode.AUTO and not has_cli
    ):
        return False
    if not has_cli:
        raise RunnerError(
            "TENANTS_RUNNER=automation needs the pulumi CLI on PATH; install it "
            "(https://www.pulumi.com/docs/install/) or set TENANTS_RUNNER=auto or offline"
        )
    return True


def policy_config(settings: Settings) -> PackConfig | None:
    """The pack configuration `TENANTS_POLICY_CONFIG` names, checked before any run."""
    if settings.policy_config is None:
        return None
    try:
        return load_pack_config(settings.policy_config, ALL_POLICIES)
    except PackConfigError as error:
        raise RunnerError(f"TENANTS_POLICY_CONFIG: {error}") from None


def start_runners(settings: Settings) -> list[str]:
    """Once at start-up of workers: with the Automation API, install the provider plugins
    the installed SDKs pin; `name version` of each (nothing offline)."""
    if not deploys(settings):
        return []
    return AutomationRunner(
        settings.data_dir, backend_url=settings.backend_url or None
    ).install_plugins()
