"""The local AWS sandbox: moto on 127.0.0.1, its endpoint recorded for the runner."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import typer
from mypy_boto3_s3 import S3Client
from rich.console import Console
from typer.testing import CliRunner

from control_plane.cli import sandbox as sandbox_cli
from control_plane.runners.sandbox import (
    FAKE_CREDENTIALS,
    Sandbox,
    SandboxError,
    active_endpoint,
    read_record,
    sandbox_file,
)


@pytest.fixture
def running(data_dir: Path) -> Iterator[Sandbox]:
    box = Sandbox(data_dir, port=0)
    box.start()
    yield box
    httpx.post(f"{box.endpoint}/moto-api/reset", timeout=10)
    box.stop()


def _s3(endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def test_the_sandbox_listens_on_localhost_and_answers_s3(running: Sandbox) -> None:
    assert running.endpoint.startswith("http://127.0.0.1:")
    s3 = _s3(running.endpoint)

    s3.create_bucket(
        Bucket="acme-data-1a2b", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )

    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "acme-data-1a2b" in names


def test_the_endpoint_is_recorded_for_the_runner(running: Sandbox, data_dir: Path) -> None:
    record = read_record(data_dir)

    assert record is not None
    assert record.endpoint == running.endpoint
    assert active_endpoint(data_dir) == running.endpoint


def test_stopping_removes_the_record(data_dir: Path) -> None:
    box = Sandbox(data_dir, port=0)
    box.start()

    box.stop()

    assert not sandbox_file(data_dir).exists()
    assert active_endpoint(data_dir) is None


def test_a_second_sandbox_on_the_same_data_dir_is_refused(running: Sandbox, data_dir: Path) -> None:
    with pytest.raises(SandboxError, match=r"a sandbox already runs at http://127\.0\.0\.1:"):
        Sandbox(data_dir, port=0).start()

    assert active_endpoint(data_dir) == running.endpoint


def test_a_taken_port_fails_fast_with_the_port_named(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(SandboxError, match=rf"cannot listen on 127\.0\.0\.1:{port}"):
            Sandbox(data_dir, port=port).start()

    assert not sandbox_file(data_dir).exists()


def test_a_record_left_by_a_killed_sandbox_is_detected(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    sandbox_file(data_dir).write_text(json.dumps({"endpoint": "http://127.0.0.1:1", "pid": 7}))

    with pytest.raises(SandboxError, match=r"is not answering; start `tenantctl sandbox` again"):
        active_endpoint(data_dir)


def test_a_corrupt_record_is_named(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    sandbox_file(data_dir).write_text("{not json")

    with pytest.raises(SandboxError, match=r"sandbox\.json is not a sandbox record"):
        read_record(data_dir)


def test_the_command_serves_until_stopped(data_dir: Path) -> None:
    out = io.StringIO()
    stop = threading.Event()
    serving = threading.Thread(
        target=sandbox_cli.run_sandbox,
        args=(data_dir, 0, Console(file=out, width=200), stop),
    )
    serving.start()
    try:
        deadline = time.monotonic() + 10
        while read_record(data_dir) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        record = read_record(data_dir)
        assert record is not None
        buckets = _s3(record.endpoint).list_buckets()
        assert "Buckets" in buckets
    finally:
        stop.set()
        serving.join(timeout=10)

    assert not serving.is_alive()
    assert not sandbox_file(data_dir).exists()
    printed = out.getvalue()
    assert record.endpoint in printed
    assert f"export AWS_ENDPOINT_URL={record.endpoint}" in printed
    assert f"pulumi config set tenants:awsEndpoint {record.endpoint}" in printed
    assert "sandbox stopped" in printed


def test_the_command_reports_a_taken_port(data_dir: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    sandbox_cli.register(app)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["sandbox", "--port", str(port), "--data-dir", str(data_dir)]
        )

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
