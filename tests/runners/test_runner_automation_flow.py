"""The Automation runner's operations over a recording stand-in for `auto.Stack`.

Everything up to the CLI call is the runner's own: which state it imports before a
destroy, which policy pack an `up` gets, how results, refusals and failures come back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.spec import TenantSpec
from control_plane.registry.runs import RunMode, StackOperation
from control_plane.runners.automation import REPO_ROOT, AutomationRunner
from control_plane.runners.base import LeaseLost, RunnerError, StackLocked

PREFIX = "urn:pulumi:acme::tenants::"
STACK_URN = f"{PREFIX}pulumi:pulumi:Stack::tenants-acme"
BUCKET_URN = f"{PREFIX}aws:s3/bucket:Bucket::acme-data"
POLICY_URN = f"{PREFIX}aws:s3/bucketPolicy:BucketPolicy::acme-data-policy"
ASG_URN = f"{PREFIX}aws:autoscaling/group:Group::acme-asg"


def _summary(changes: dict[str, int]) -> auto.UpdateSummary:
    now = datetime(2025, 1, 1)
    return auto.UpdateSummary(
        kind="update",
        start_time=now,
        message="",
        environment={},
        config={},
        result="succeeded",
        end_time=now,
        resource_changes=changes,  # type: ignore[arg-type]
    )


def _event(**payload: Any) -> auto.EngineEvent:
    return auto.EngineEvent.from_json({"sequence": 1, "timestamp": 0, **payload})


def _policy_event(level: str) -> auto.EngineEvent:
    return _event(
        policyEvent={
            "message": "Bucket must block public access.",
            "color": "never",
            "policyName": "aws-s3-bucket-disallow-public-access",
            "policyPackName": "tenants",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "v0.1.0",
            "enforcementLevel": level,
            "resourceUrn": BUCKET_URN,
        }
    )


class RecordingStack:
    """Answers like `auto.Stack` from an in-memory state and records what it was asked."""

    name = "acme"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {
            "manifest": {"version": "v3.200.0"},
            "resources": [
                {"urn": STACK_URN, "type": "pulumi:pulumi:Stack", "custom": False},
                {
                    "urn": BUCKET_URN,
                    "type": "aws:s3/bucket:Bucket",
                    "custom": True,
                    "id": "acme-data-1a2b",
                    "protect": True,
                    "parent": STACK_URN,
                },
                {
                    "urn": POLICY_URN,
                    "type": "aws:s3/bucketPolicy:BucketPolicy",
                    "custom": True,
                    "id": "acme-data-1a2b",
                    "parent": STACK_URN,
                    "dependencies": [BUCKET_URN],
                },
                {
                    "urn": ASG_URN,
                    "type": "aws:autoscaling/group:Group",
                    "custom": True,
                    "id": "acme-asg",
                    "parent": STACK_URN,
                    "dependencies": [BUCKET_URN],
                },
            ],
        }
        self.imported: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: auto.CommandError | None = None
        self.emit: list[auto.EngineEvent] = []
        self.while_running: Callable[[], None] | None = None
        """Called in the middle of an operation (e.g. the worker losing its lease)."""
        self.cancel_fails = False

    def _run(self, name: str, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        for event in self.emit:
            on_event(event)
        if self.while_running is not None:
            self.while_running()
        if self.fail_with is not None:
            raise self.fail_with

    def cancel(self) -> None:
        self.calls.append(("cancel", {}))
        if self.cancel_fails:
            raise auto.errors.create_command_error(
                auto.CommandResult("", "error: no stack update is currently running\n", 255)
            )

    def export_stack(self) -> auto.Deployment:
        return auto.Deployment(version=3, deployment=self.state)

    def import_stack(self, state: auto.Deployment) -> None:
        assert state.version == 3
        self.imported.append(dict(state.deployment or {}))
        self.state = dict(state.deployment or {})

    def up(self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any) -> auto.UpResult:
        self._run("up", on_event, **kwargs)
        outputs = {
            "bucket": auto.OutputValue("acme-data-1a2b", secret=False),
            "tenant_secret_arn": auto.OutputValue("arn:aws:secretsmanager:x", secret=True),
        }
        return auto.UpResult("", "", _summary({"create": 3, "same": 1}), outputs)

    def preview(
        self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any
    ) -> auto.PreviewResult:
        self._run("preview", on_event, **kwargs)
        return auto.PreviewResult("", "", {"same": 3, "update": 1, "delete": 1})  # type: ignore[dict-item]

    def refresh(
        self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any
    ) -> auto.RefreshResult:
        self._run("refresh", on_event, **kwargs)
        return auto.RefreshResult("", "", _summary({"same": 3, "refresh": 1}))

    def destroy(
        self, on_event: Callable[[auto.EngineEvent], Any], **kwargs: Any
    ) -> auto.DestroyResult:
        self._run("destroy", on_event, **kwargs)
        deleted = len(self.state["resources"])
        self.state = {**self.state, "resources": []}
        return auto.DestroyResult("", "", _summary({"delete": deleted}))


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> RecordingStack:
    recording = RecordingStack()
    monkeypatch.setattr(AutomationRunner, "_stack", lambda self, spec: recording)
    return recording


@pytest.fixture
def runner(data_dir: Path) -> AutomationRunner:
    return AutomationRunner(data_dir)


def test_destroy_takes_data_out_of_the_state_first(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec, events: list[str]
) -> None:
    result = runner.destroy(spec, events.append, purge=False)

    assert result.operation is StackOperation.DESTROY
    assert result.mode is RunMode.DEPLOY
    assert result.retained == ["Bucket acme-data-1a2b"]
    [imported] = stack.imported
    urns = [r["urn"] for r in imported["resources"]]
    # The bucket and its policy stay in the cloud; the destroy only sees the rest.
    assert urns == [STACK_URN, ASG_URN]
    assert imported["resources"][1]["dependencies"] == []
    assert [name for name, _ in stack.calls] == ["destroy"]
    assert result.changes == {"delete": 2}
    assert "retained Bucket acme-data-1a2b" in events
    assert "retain aws:s3/bucketPolicy:BucketPolicy acme-data-policy" in events


def test_purge_unprotects_and_destroys_everything(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec, events: list[str]
) -> None:
    result = runner.destroy(spec, events.append, purge=True)

    assert result.retained == []
    [imported] = stack.imported
    assert len(imported["resources"]) == 4
    assert not any(r.get("protect") for r in imported["resources"])
    assert result.changes == {"delete": 4}


def test_a_failed_destroy_still_reports_what_left_the_state(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec
) -> None:
    stack.fail_with = auto.errors.create_command_error(
        auto.CommandResult("", "error: deleting Auto Scaling Group: timeout\n", 255)
    )

    with pytest.raises(RunnerError) as failure:
        runner.destroy(spec, lambda line: None, purge=False)

    message = str(failure.value)
    assert message.startswith("destroy acme: error: deleting Auto Scaling Group: timeout")
    assert "retained (removed from the stack's state): Bucket acme-data-1a2b" in message
    assert not failure.value.retryable


def test_up_applies_the_policy_pack_and_reports_the_deployment(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec, events: list[str]
) -> None:
    stack.emit = [
        _event(
            resourcePreEvent={
                "metadata": {
                    "op": "create",
                    "urn": BUCKET_URN,
                    "type": "aws:s3/bucket:Bucket",
                    "provider": "",
                }
            }
        ),
        _policy_event("advisory"),
    ]

    result = runner.up(spec, events.append)

    [(name, kwargs)] = stack.calls
    assert name == "up"
    assert kwargs["policy_packs"] == [str(REPO_ROOT / "policies")]
    assert result.mode is RunMode.DEPLOY
    assert result.changes == {"create": 3, "same": 1}
    assert result.outputs == {"bucket": "acme-data-1a2b", "tenant_secret_arn": "[secret]"}
    assert result.policy_violations == []
    # The root stack is not a resource of the tenant.
    assert result.resource_count == 3
    assert events[0] == "create aws:s3/bucket:Bucket acme-data"
    assert events[1].startswith("policy advisory tenants/aws-s3-bucket-disallow-public-access")


def test_a_mandatory_policy_violation_refuses_the_up(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec
) -> None:
    stack.emit = [_policy_event("mandatory")]
    stack.fail_with = auto.errors.create_command_error(
        auto.CommandResult("", "error: preview failed: policy violations\n", 255)
    )

    result = runner.up(spec, lambda line: None)

    assert result.policy_violations == [
        "aws-s3-bucket-disallow-public-access (acme-data): Bucket must block public access."
    ]
    assert result.changes == {}
    assert result.outputs == {}


def test_preview_counts_planned_changes(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec
) -> None:
    result = runner.preview(spec, lambda line: None)

    [(name, kwargs)] = stack.calls
    assert name == "preview"
    assert kwargs["policy_packs"] == [str(REPO_ROOT / "policies")]
    assert result.changes == {"same": 3, "update": 1, "delete": 1}
    # Three unchanged and one updated step remain, the root stack among them.
    assert result.resource_count == 3


def test_refresh_reports_drift_and_what_is_deployed(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec
) -> None:
    result = runner.refresh(spec, lambda line: None)

    assert [name for name, _ in stack.calls] == ["refresh"]
    assert result.operation is StackOperation.REFRESH
    assert result.changes == {"same": 3, "refresh": 1}
    assert result.resource_count == 3


@pytest.mark.parametrize("operation", ["up", "preview", "refresh"])
def test_a_locked_stack_is_raised_as_stack_locked(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec, operation: str
) -> None:
    stack.fail_with = auto.errors.create_command_error(
        auto.CommandResult("", "error: the stack is currently locked by 1 lock(s)\n", 255)
    )

    with pytest.raises(StackLocked, match=rf"^{operation} acme: the stack is locked"):
        getattr(runner, operation)(spec, lambda line: None)


class ManualFence:
    """A job lease the test takes away: `lose` runs what the runner registered."""

    token = 7

    def __init__(self) -> None:
        self.lost = False
        self._watchers: list[Callable[[], None]] = []

    def check(self) -> None:
        if self.lost:
            raise LeaseLost("job 1 was taken over by another worker")

    @contextmanager
    def watch(self, on_lost: Callable[[], None]) -> Iterator[None]:
        self._watchers.append(on_lost)
        try:
            yield
        finally:
            self._watchers.remove(on_lost)

    def lose(self) -> None:
        self.lost = True
        for on_lost in list(self._watchers):
            on_lost()


@pytest.mark.parametrize("operation", ["up", "refresh", "destroy"])
def test_a_lost_lease_cancels_the_operation_in_progress(
    runner: AutomationRunner,
    stack: RecordingStack,
    spec: TenantSpec,
    events: list[str],
    operation: str,
) -> None:
    fence = ManualFence()
    stack.while_running = fence.lose
    kwargs: dict[str, Any] = {"purge": True} if operation == "destroy" else {}

    getattr(runner, operation)(spec, events.append, fence=fence, **kwargs)

    assert [name for name, _ in stack.calls] == [operation, "cancel"]
    assert "lease lost to another worker: cancelling the update in progress" in events


def test_a_cancel_with_nothing_left_to_cancel_is_only_logged(
    runner: AutomationRunner, stack: RecordingStack, spec: TenantSpec
) -> None:
    fence = ManualFence()
    stack.while_running = fence.lose
    stack.cancel_fails = True

    result = runner.up(spec, lambda line: None, fence=fence)

    assert [name for name, _ in stack.calls] == ["up", "cancel"]
    assert result.operation is StackOperation.UP  # the worker's commit is what is fenced


@pytest.mark.parametrize("operation", ["up", "preview", "refresh", "destroy"])
def test_a_run_that_lost_its_lease_never_touches_the_stack(
    runner: AutomationRunner, monkeypatch: pytest.MonkeyPatch, spec: TenantSpec, operation: str
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(AutomationRunner, "_stack", lambda self, spec: opened.append(spec))
    fence = ManualFence()
    fence.lose()
    kwargs: dict[str, Any] = {"purge": False} if operation == "destroy" else {}

    with pytest.raises(LeaseLost):
        getattr(runner, operation)(spec, lambda line: None, fence=fence, **kwargs)

    assert opened == []
