"""A real `up` and `destroy` through the Automation API against the moto sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from components.spec import TenantSpec
from control_plane.registry.runs import RunMode
from control_plane.runners.automation import AutomationRunner
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


def test_up_then_destroy_keeps_the_data_in_the_sandbox(
    sandbox: Sandbox, data_dir: Path, spec: TenantSpec, events: list[str]
) -> None:
    # The runner finds the sandbox through the record `Sandbox` wrote in the data dir.
    runner = AutomationRunner(data_dir, environ={})

    up = runner.up(spec, events.append)

    assert up.mode is RunMode.DEPLOY
    assert up.policy_violations == []
    assert up.changes.get("create", 0) > 50
    assert any(line.startswith("create aws:s3/bucket:Bucket ") for line in events)
    assert runner.outputs(spec.tenant_id)["tenant"] == spec.tenant_id
    assert (data_dir / "workspaces" / "acme" / "Pulumi.acme.yaml").is_file()
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint,
        region_name=spec.region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    buckets = set(up.outputs["bucket_names"].values())
    assert buckets <= {b["Name"] for b in s3.list_buckets()["Buckets"]}

    destroyed = runner.destroy(spec, events.append, purge=False)

    assert {f"Bucket {name}" for name in buckets} <= set(destroyed.retained)
    # Retained means still there: the destroy left the buckets in the cloud.
    assert buckets <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert runner.outputs(spec.tenant_id) == {}
