"""A real drift check (`preview_refresh`) and plugin installation with the pulumi CLI,
against the moto sandbox: a change made outside the stack is found, and nothing in the
stack's state is changed by looking."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from components.spec import TenantSpec
from control_plane.runners.automation import AutomationRunner, provider_plugins
from control_plane.runners.sandbox import FAKE_CREDENTIALS, Sandbox

pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(
        shutil.which("pulumi") is None,
        reason="needs the pulumi CLI on PATH (https://www.pulumi.com/docs/install/)",
    ),
]


@pytest.fixture
def sandbox(data_dir: Path) -> Iterator[Sandbox]:
    with Sandbox(data_dir, port=0) as box:
        yield box


def test_plugins_install_at_the_pinned_versions(data_dir: Path) -> None:
    installed = AutomationRunner(data_dir, environ={}).install_plugins()
    assert installed == [f"{name} {version}" for name, version in provider_plugins().items()]


def test_a_change_made_outside_the_stack_is_drift(
    sandbox: Sandbox, data_dir: Path, spec: TenantSpec, events: list[str]
) -> None:
    runner = AutomationRunner(data_dir, environ={})
    runner.up(spec, events.append)
    assert runner.drift(spec, events.append).drifted == ()

    autoscaling = boto3.client(
        "autoscaling",
        endpoint_url=sandbox.endpoint,
        region_name=spec.region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    [group] = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=group["AutoScalingGroupName"], MaxSize=group["MaxSize"] + 1
    )

    first = runner.drift(spec, events.append)
    second = runner.drift(spec, events.append)

    assert [r.type for r in first.drifted] == ["aws:autoscaling/group:Group"]
    assert "maxSize" in first.drifted[0].properties
    # Looking changed nothing: a refresh would have taken the new size into the state.
    assert second.drifted == first.drifted
