"""The Automation runner's logic, without the pulumi CLI: layout, config, errors, events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from components.spec import TenantSpec
from components.stack_config import ENDPOINT_KEY, SESSION_KEY, SPEC_KEY, spec_from_config
from control_plane.runners.automation import (
    LOCAL_PASSPHRASE,
    REPO_ROOT,
    AutomationRunner,
    WorkspaceLayout,
    change_counts,
    classify_error,
    format_event,
    project_settings,
    stack_config,
    workspace_env,
    write_project,
    write_stack_config,
)
from control_plane.runners.base import RunnerError, StackLocked, running_job

# --- workspace layout -----------------------------------------------------------------


def test_each_tenant_gets_its_own_workspace_directory(tmp_path: Path) -> None:
    layout = WorkspaceLayout(tmp_path / "data")
    settings = project_settings(REPO_ROOT)

    acme = write_project(layout, "acme", settings)
    globex = write_project(layout, "globex", settings)

    assert acme == tmp_path / "data" / "workspaces" / "acme"
    assert globex == tmp_path / "data" / "workspaces" / "globex"
    assert (acme / "Pulumi.yaml").is_file()
    assert (globex / "Pulumi.yaml").is_file()
    assert layout.stack_file("acme") == acme / "Pulumi.acme.yaml"


def test_default_backend_is_a_file_url_under_the_data_dir(tmp_path: Path) -> None:
    layout = WorkspaceLayout(tmp_path / "data")

    assert layout.default_backend_url == (tmp_path / "data" / "state").as_uri()
    assert layout.default_backend_url.startswith("file:///")


def test_project_settings_run_the_repo_program_from_the_workspace() -> None:
    repo = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())

    settings = project_settings(REPO_ROOT)

    assert settings["name"] == repo["name"]
    assert settings["runtime"]["name"] == "python"
    assert settings["main"] == str(REPO_ROOT)
    assert (Path(settings["main"]) / "__main__.py").is_file()
    # Stack config lives in the workspace, next to its own Pulumi.yaml.
    assert "stackConfigDir" not in settings
    virtualenv = Path(settings["runtime"]["options"]["virtualenv"])
    assert virtualenv.is_absolute()
    assert virtualenv == REPO_ROOT / ".venv"


def test_project_settings_keep_an_absolute_main(tmp_path: Path) -> None:
    program = tmp_path / "elsewhere"
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "tenants", "runtime": "python", "main": str(program)})
    )

    assert project_settings(tmp_path)["main"] == str(program)


@pytest.mark.parametrize(
    "content",
    ["name: tenants\n", "- just\n- a list\n", "runtime: python\n"],
    ids=["no-runtime", "not-a-mapping", "no-name"],
)
def test_project_settings_reject_a_file_that_is_not_a_project(tmp_path: Path, content: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text(content)

    with pytest.raises(RunnerError, match=r"Pulumi.yaml is not a Pulumi project file"):
        project_settings(tmp_path)


# --- stack config -----------------------------------------------------------------------


def test_stack_config_carries_the_spec_as_an_object(spec: TenantSpec) -> None:
    config = stack_config(spec, aws_endpoint=None)

    assert set(config) == {SPEC_KEY, SESSION_KEY}
    assert isinstance(config[SPEC_KEY], dict)
    # The program validates exactly this object back into the same spec.
    assert spec_from_config(spec.tenant_id, config) == spec
    assert config[SESSION_KEY] == f"tenants-{spec.tenant_id}-manual"


def test_stack_config_names_the_job_in_the_role_session(spec: TenantSpec) -> None:
    with running_job("job-42"):
        config = stack_config(spec, aws_endpoint=None)

    assert config[SESSION_KEY] == f"tenants-{spec.tenant_id}-job-42"


def test_stack_config_points_the_bundle_at_the_sandbox(spec: TenantSpec) -> None:
    config = stack_config(spec, aws_endpoint="http://127.0.0.1:5000")

    assert config[ENDPOINT_KEY] == "http://127.0.0.1:5000"
    assert spec_from_config(spec.tenant_id, config) == spec


def test_stack_config_follows_a_scaled_and_suspended_spec(
    make_spec: Callable[..., TenantSpec],
) -> None:
    scaled = make_spec(compute={"min_size": 2, "desired_capacity": 3, "max_size": 3})
    suspended = make_spec(suspended=True)

    assert stack_config(scaled, None)[SPEC_KEY]["compute"] == {
        "min_size": 2,
        "desired_capacity": 3,
        "max_size": 3,
    }
    assert stack_config(suspended, None)[SPEC_KEY]["suspended"] is True


def test_stack_file_keeps_the_secrets_settings_and_replaces_config(
    tmp_path: Path, spec: TenantSpec
) -> None:
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "encryptionsalt": "v1:abc:def",
                "config": {"tenants:spec": {"tenant_id": "old"}, "tenants:stale": "x"},
            }
        )
    )

    write_stack_config(path, stack_config(spec, "http://127.0.0.1:5000"))

    written = yaml.safe_load(path.read_text())
    assert written["encryptionsalt"] == "v1:abc:def"
    assert set(written["config"]) == {SPEC_KEY, SESSION_KEY, ENDPOINT_KEY}
    assert spec_from_config("acme", written["config"]) == spec


def test_stack_file_is_created_when_missing(tmp_path: Path, spec: TenantSpec) -> None:
    path = tmp_path / "Pulumi.acme.yaml"

    write_stack_config(path, stack_config(spec, None))

    assert yaml.safe_load(path.read_text()) == {"config": stack_config(spec, None)}


# --- environment ------------------------------------------------------------------------


def test_the_local_sandbox_gets_the_built_in_passphrase(tmp_path: Path) -> None:
    layout = WorkspaceLayout(tmp_path)

    env = workspace_env(None, layout, environ={}, sandbox=True)

    assert env["PULUMI_BACKEND_URL"] == layout.default_backend_url
    assert env["PULUMI_CONFIG_PASSPHRASE"] == LOCAL_PASSPHRASE


@pytest.mark.parametrize(
    ("backend_url", "sandbox"),
    [(None, False), ("s3://tenant-state?region=eu-west-1", False), ("file:///srv/state", True)],
)
def test_without_a_passphrase_outside_the_sandbox_is_an_error(
    tmp_path: Path, backend_url: str | None, sandbox: bool
) -> None:
    with pytest.raises(RunnerError, match=r"no secrets passphrase .* set PULUMI_CONFIG_PASSPHRASE"):
        workspace_env(backend_url, WorkspaceLayout(tmp_path), {}, sandbox=sandbox)


@pytest.mark.parametrize(
    "environ",
    [{"PULUMI_CONFIG_PASSPHRASE": "s3cret"}, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/pass"}],
)
@pytest.mark.parametrize("sandbox", [True, False])
def test_a_passphrase_from_the_environment_wins(
    tmp_path: Path, environ: dict[str, str], sandbox: bool
) -> None:
    env = workspace_env(None, WorkspaceLayout(tmp_path), environ, sandbox=sandbox)

    # Not set here: the CLI inherits the caller's environment.
    assert "PULUMI_CONFIG_PASSPHRASE" not in env


def test_a_service_backend_needs_no_passphrase(tmp_path: Path) -> None:
    env = workspace_env("https://api.pulumi.com", WorkspaceLayout(tmp_path), {}, sandbox=False)

    assert env["PULUMI_BACKEND_URL"] == "https://api.pulumi.com"
    assert "PULUMI_CONFIG_PASSPHRASE" not in env


def test_a_missing_passphrase_fails_before_any_stack_operation(
    data_dir: Path, spec: TenantSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    touched: list[str] = []
    monkeypatch.setattr(
        auto.Stack, "create_or_select", lambda name, workspace: touched.append(name)
    )
    runner = AutomationRunner(data_dir, environ={})

    with pytest.raises(RunnerError, match="no secrets passphrase"):
        runner.up(spec, lambda line: None)

    assert touched == []
    assert not (data_dir / "workspaces").exists()


# --- error classification ---------------------------------------------------------------


def _command_error(stdout: str = "", stderr: str = "") -> auto.CommandError:
    return auto.errors.create_command_error(auto.CommandResult(stdout, stderr, 255))


def test_a_service_backend_conflict_is_a_lock() -> None:
    error = _command_error(
        stderr="error: [409] Conflict: Another update is currently in progress.\n"
    )
    assert isinstance(error, auto.ConcurrentUpdateError)

    result = classify_error(error, "up acme")

    assert isinstance(result, StackLocked)
    assert result.retryable
    assert "Another update is currently in progress" in str(result)
    assert str(result).startswith("up acme: the stack is locked")


def test_a_file_backend_lock_is_a_lock() -> None:
    error = _command_error(
        stderr="error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n"
    )

    result = classify_error(error, "destroy acme")

    assert isinstance(result, StackLocked)
    assert result.retryable


def test_currently_locked_in_any_stream_is_a_lock() -> None:
    # Not recognised by the SDK (the message is on stdout): the text alone decides.
    error = auto.CommandError(
        auto.CommandResult("error: stack 'acme' is currently locked by another process", "", 255)
    )
    assert not isinstance(error, auto.ConcurrentUpdateError)

    assert isinstance(classify_error(error, "up acme"), StackLocked)


def test_a_create_or_select_race_is_retryable_but_not_a_lock() -> None:
    error = _command_error(stderr="error: stack 'organization/tenants/acme' already exists\n")
    assert isinstance(error, auto.StackAlreadyExistsError)

    result = classify_error(error, "up acme")

    assert not isinstance(result, StackLocked)
    assert result.retryable


def test_other_failures_keep_the_engine_message_and_are_not_retried() -> None:
    error = _command_error(
        stdout=(
            "Updating (acme):\n"
            "  aws:s3:Bucket acme-data creating (0s)\n"
            "  aws:s3:Bucket acme-data **creating failed** error: creating S3 Bucket "
            "(acme-data-1a2b): operation error S3: CreateBucket, AccessDenied\n"
            "Resources:\n    12 unchanged\n"
        ),
        stderr="error: update failed\n",
    )

    result = classify_error(error, "up acme")

    assert type(result) is RunnerError
    assert not result.retryable
    message = str(result)
    assert message.startswith("up acme: ")
    assert "CreateBucket, AccessDenied" in message
    assert "error: update failed" in message
    # The noise around the engine's error lines is not kept.
    assert "12 unchanged" not in message


def test_a_failure_without_error_lines_keeps_its_last_lines() -> None:
    error = auto.CommandError(auto.CommandResult("", "plugin exited unexpectedly\n", 1))

    assert "plugin exited unexpectedly" in str(classify_error(error, "refresh acme"))


# --- engine events ----------------------------------------------------------------------

URN = "urn:pulumi:acme::tenants::tenants:index:ServiceBundle$aws:s3/bucket:Bucket::acme-data"


def _event(**payload: Any) -> auto.EngineEvent:
    return auto.EngineEvent.from_json({"sequence": 1, "timestamp": 0, **payload})


def _step(op: str) -> dict[str, Any]:
    return {"metadata": {"op": op, "urn": URN, "type": "aws:s3/bucket:Bucket", "provider": ""}}


def test_resource_steps_become_one_line_each() -> None:
    assert format_event(_event(resourcePreEvent=_step("create"))) == (
        "create aws:s3/bucket:Bucket acme-data"
    )
    assert format_event(_event(resourcePreEvent=_step("update"))) == (
        "update aws:s3/bucket:Bucket acme-data"
    )
    assert format_event(_event(resOpFailedEvent={**_step("create"), "status": 1, "steps": 0})) == (
        "failed create aws:s3/bucket:Bucket acme-data"
    )


def test_unchanged_resources_and_ephemeral_diagnostics_are_not_logged() -> None:
    assert format_event(_event(resourcePreEvent=_step("same"))) is None
    assert (
        format_event(
            _event(
                diagnosticEvent={
                    "message": "progress",
                    "color": "never",
                    "severity": "info",
                    "ephemeral": True,
                }
            )
        )
        is None
    )
    assert format_event(_event(preludeEvent={"config": {}})) is None


def test_diagnostics_policies_and_summary_are_logged() -> None:
    diagnostic = _event(
        diagnosticEvent={
            "message": "creating failed: AccessDenied\n",
            "color": "never",
            "severity": "error",
            "urn": URN,
        }
    )
    policy = _event(
        policyEvent={
            "message": "Bucket must block public access.\n",
            "color": "never",
            "policyName": "aws-s3-bucket-disallow-public-access",
            "policyPackName": "tenants",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "v0.1.0",
            "enforcementLevel": "mandatory",
            "resourceUrn": URN,
        }
    )
    summary = _event(
        summaryEvent={
            "maybeCorrupt": False,
            "durationSeconds": 7,
            "resourceChanges": {"create": 2, "same": 60},
            "PolicyPacks": {},
        }
    )

    assert format_event(diagnostic) == "error acme-data: creating failed: AccessDenied"
    assert format_event(policy) == (
        "policy mandatory tenants/aws-s3-bucket-disallow-public-access acme-data: "
        "Bucket must block public access."
    )
    assert format_event(summary) == "summary create=2 same=60 in 7s"


def test_change_counts_use_plain_op_names() -> None:
    assert change_counts({auto.OpType.CREATE: 2, auto.OpType.SAME: 60}) == {
        "create": 2,
        "same": 60,
    }
    assert change_counts({"update": 3}) == {"update": 3}
    assert change_counts(None) == {}


# --- the runner, before the CLI is reached -----------------------------------------------


def test_a_stale_sandbox_record_fails_the_operation_clearly(
    data_dir: Path, spec: TenantSpec
) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "sandbox.json").write_text(
        json.dumps({"endpoint": "http://127.0.0.1:1", "pid": 4242})
    )
    runner = AutomationRunner(data_dir)

    with pytest.raises(RunnerError, match=r"sandbox\.json \(http://127\.0\.0\.1:1, pid 4242\)"):
        runner.up(spec, lambda line: None)

    assert not (data_dir / "workspaces").exists()
