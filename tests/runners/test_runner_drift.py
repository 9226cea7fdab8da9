"""The Automation runner's drift check, pack configuration and provider plugins, over
stand-ins for `auto.Stack` and `auto.LocalWorkspace` answering in the SDK's own shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.spec import TenantSpec
from control_plane.registry.runs import DriftedResource, RunMode, StackOperation
from control_plane.runners.automation import (
    AutomationRunner,
    drifted_resource,
    install_provider_plugins,
    provider_plugins,
)
from control_plane.runners.base import RunnerError
from control_plane.runners.factory import make_runner
from control_plane.runners.offline import OfflineRunner
from control_plane.settings import Settings

PREFIX = "urn:pulumi:acme::tenants::"
STACK_URN = f"{PREFIX}pulumi:pulumi:Stack::tenants-acme"
BUCKET_URN = f"{PREFIX}aws:s3/bucket:Bucket::acme-data"
GROUP_URN = f"{PREFIX}aws:autoscaling/group:Group::acme-asg"
KEY_URN = f"{PREFIX}aws:kms/key:Key::acme-key"
PROVIDER_URN = f"{PREFIX}pulumi:providers:aws::acme-aws"


def _step(op: str, urn: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"op": op, "urn": urn, "type": type_, "provider": "", **extra}


def _event(kind: str, metadata_: dict[str, Any]) -> auto.EngineEvent:
    return auto.EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, kind: {"metadata": metadata_}}
    )


REFRESH_EVENTS = [
    _event("resourcePreEvent", _step("refresh", STACK_URN, "pulumi:pulumi:Stack")),
    _event("resourcePreEvent", _step("refresh", PROVIDER_URN, "pulumi:providers:aws")),
    # Changed outside the stack: the engine names the properties.
    _event("resourcePreEvent", _step("refresh", GROUP_URN, "aws:autoscaling/group:Group")),
    _event(
        "resOutputsEvent",
        _step(
            "refresh",
            GROUP_URN,
            "aws:autoscaling/group:Group",
            diffs=["maxSize", "desiredCapacity"],
            detailedDiff={"maxSize": {"diffKind": "update", "inputDiff": False}},
        ),
    ),
    # Gone from the cloud, as the summary's op says it.
    _event("resOutputsEvent", _step("delete", BUCKET_URN, "aws:s3/bucket:Bucket")),
    # Read and unchanged.
    _event("resOutputsEvent", _step("refresh", KEY_URN, "aws:kms/key:Key")),
    _event("resOutputsEvent", _step("same", KEY_URN, "aws:kms/key:Key")),
]


class StackStandIn:
    """Answers `preview_refresh`, `up` and `preview` like `auto.Stack`; records the calls."""

    name = "acme"

    def __init__(self, events: list[auto.EngineEvent]) -> None:
        self.events = events
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _run(self, name: str, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        for event in self.events:
            on_event(event)

    def preview_refresh(
        self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any
    ) -> auto.PreviewResult:
        self._run("preview_refresh", on_event, **kwargs)
        summary = {auto.OpType.SAME: 3, auto.OpType.UPDATE: 1, auto.OpType.DELETE: 1}
        return auto.PreviewResult("", "", summary)  # type: ignore[arg-type]

    def preview(
        self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any
    ) -> auto.PreviewResult:
        self._run("preview", on_event, **kwargs)
        return auto.PreviewResult("", "", {auto.OpType.SAME: 4})  # type: ignore[arg-type]

    def up(self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any) -> auto.UpResult:
        self._run("up", on_event, **kwargs)
        summary = auto.UpdateSummary(
            kind="update",
            start_time=None,  # type: ignore[arg-type]
            message="",
            environment={},
            config={},
            result="succeeded",
            end_time=None,
            resource_changes={"same": 4},  # type: ignore[dict-item]
        )
        return auto.UpResult("", "", summary, {})

    def export_stack(self) -> auto.Deployment:
        return auto.Deployment(version=3, deployment={"resources": []})


def _runner(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, stand_in: StackStandIn, **kwargs: Any
) -> AutomationRunner:
    monkeypatch.setattr(AutomationRunner, "_stack", lambda self, spec: stand_in)
    return AutomationRunner(data_dir, **kwargs)


def test_drift_is_a_preview_refresh_and_names_what_drifted(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, spec: TenantSpec, events: list[str]
) -> None:
    stand_in = StackStandIn(REFRESH_EVENTS)
    runner = _runner(monkeypatch, data_dir, stand_in)

    result = runner.drift(spec, events.append)

    # Read-only: `refresh` itself would write the cloud's values into the state.
    assert [name for name, _ in stand_in.calls] == ["preview_refresh"]
    assert result.operation is StackOperation.DRIFT and result.mode is RunMode.DEPLOY
    assert result.changes == {"same": 3, "update": 1, "delete": 1}
    assert result.resource_count == 4
    assert result.drifted == (
        DriftedResource(
            urn=GROUP_URN,
            type="aws:autoscaling/group:Group",
            name="acme-asg",
            change="update",
            properties=("desiredCapacity", "maxSize"),
        ),
        DriftedResource(
            urn=BUCKET_URN, type="aws:s3/bucket:Bucket", name="acme-data", change="delete"
        ),
    )
    assert events[-1] == "drift: 2 resources drifted"
    assert result.drifted[0].line() == (
        "update aws:autoscaling/group:Group acme-asg (desiredCapacity, maxSize)"
    )


def test_no_drift_when_every_resource_is_the_same(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, spec: TenantSpec
) -> None:
    same = [e for e in REFRESH_EVENTS if drifted_resource(e) is None]
    result = _runner(monkeypatch, data_dir, StackStandIn(same)).drift(spec, lambda line: None)
    assert result.drifted == ()


def test_a_failed_check_is_a_runner_error(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, spec: TenantSpec
) -> None:
    stand_in = StackStandIn([])

    def refuse(**_kwargs: Any) -> auto.PreviewResult:
        raise auto.errors.create_command_error(
            auto.CommandResult("", "error: the stack is currently locked by 1 lock(s)\n", 255)
        )

    stand_in.preview_refresh = refuse  # type: ignore[method-assign, assignment]
    with pytest.raises(RunnerError) as failure:
        _runner(monkeypatch, data_dir, stand_in).drift(spec, lambda line: None)
    assert failure.value.retryable
    assert str(failure.value).startswith("drift acme: the stack is locked")


def test_up_and_preview_get_the_pack_configuration(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, spec: TenantSpec, tmp_path: Path
) -> None:
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"all": "mandatory"}))
    stand_in = StackStandIn([])
    runner = _runner(monkeypatch, data_dir, stand_in, policy_config=config)

    runner.up(spec, lambda line: None)
    runner.preview(spec, lambda line: None)

    for _name, kwargs in stand_in.calls:
        assert kwargs["policy_pack_configs"] == [str(config.resolve())]
        assert kwargs["policy_packs"] == [str(runner.policy_pack)]


def test_without_a_pack_configuration_none_is_passed(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, spec: TenantSpec
) -> None:
    stand_in = StackStandIn([])
    _runner(monkeypatch, data_dir, stand_in).up(spec, lambda line: None)
    [(_name, kwargs)] = stand_in.calls
    assert kwargs["policy_pack_configs"] is None


class WorkspaceStandIn:
    def __init__(self, fail: bool = False) -> None:
        self.installed: list[tuple[str, str, str]] = []
        self.fail = fail

    def install_plugin(self, name: str, version: str, kind: str = "resource") -> None:
        if self.fail:
            raise auto.errors.create_command_error(
                auto.CommandResult("", "error: 404 HTTP error fetching plugin\n", 255)
            )
        self.installed.append((name, version, kind))


def test_provider_plugins_are_pinned_by_the_installed_sdks() -> None:
    workspace = WorkspaceStandIn()

    installed = install_provider_plugins(workspace)

    aws, random = metadata.version("pulumi-aws"), metadata.version("pulumi-random")
    assert workspace.installed == [
        ("aws", f"v{aws}", "resource"),
        ("random", f"v{random}", "resource"),
    ]
    assert installed == [f"aws v{aws}", f"random v{random}"]
    assert provider_plugins() == {"aws": f"v{aws}", "random": f"v{random}"}


def test_a_plugin_that_cannot_be_installed_is_one_message() -> None:
    with pytest.raises(RunnerError, match=r"installing the aws provider plugin v[\d.]+ failed: "):
        install_provider_plugins(WorkspaceStandIn(fail=True))


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", runner="offline", **values)


def test_a_bad_pack_configuration_stops_the_runner_before_any_run(tmp_path: Path) -> None:
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"no-such-policy": "mandatory"}))
    with pytest.raises(RunnerError, match=r"^TENANTS_POLICY_CONFIG: .*no-such-policy"):
        make_runner(_settings(tmp_path, policy_config=config))
    with pytest.raises(RunnerError, match="cannot read pack config"):
        make_runner(_settings(tmp_path, policy_config=tmp_path / "missing.json"))


def test_offline_plans_use_the_pack_configuration(
    tmp_path: Path, spec: TenantSpec, events: list[str]
) -> None:
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"aws-secretsmanager-secret-missing-rotation": "mandatory"}))
    runner = make_runner(_settings(tmp_path, policy_config=config))
    assert isinstance(runner, OfflineRunner)

    result = runner.preview(spec, events.append)

    assert [v.split(":")[0] for v in result.policy_violations] == [
        "aws-secretsmanager-secret-missing-rotation"
    ]
