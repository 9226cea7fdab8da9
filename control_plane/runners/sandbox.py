"""The local AWS sandbox: a moto server on 127.0.0.1 that stands in for AWS.

`tenantctl sandbox` starts it and records its endpoint in `<data_dir>/sandbox.json`. The
Automation runner reads that file before every operation and writes the endpoint into the
stack config (`tenants:awsEndpoint`); the bundle's AWS provider then sends every service
it calls there, with fake credentials, so `tenantctl up` needs no AWS account. Stopping
the sandbox removes the file; a file left behind by a killed sandbox is detected because
its endpoint no longer answers.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from control_plane.files import write_private

SANDBOX_HOST = "127.0.0.1"
DEFAULT_PORT = 5000

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
"""moto accepts any key; fixed fake ones keep real credentials from ever being sent."""


class SandboxError(Exception):
    """The recorded sandbox cannot be used (its file is unreadable or it stopped answering)."""


@dataclass(frozen=True)
class SandboxRecord:
    """What `<data_dir>/sandbox.json` holds while a sandbox runs."""

    endpoint: str
    pid: int


def sandbox_file(data_dir: Path) -> Path:
    return data_dir / "sandbox.json"


def read_record(data_dir: Path) -> SandboxRecord | None:
    """The running sandbox recorded in `data_dir`, or None when none was started."""
    path = sandbox_file(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return SandboxRecord(endpoint=str(raw["endpoint"]), pid=int(raw["pid"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            f"{path} is not a sandbox record ({exc}); delete it or restart `tenantctl sandbox`"
        ) from exc


def endpoint_answers(endpoint: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections at the endpoint's host and port."""
    parts = urlsplit(endpoint)
    if parts.hostname is None or parts.port is None:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def active_endpoint(data_dir: Path) -> str | None:
    """The endpoint of the sandbox recorded in `data_dir`, checked to be answering."""
    record = read_record(data_dir)
    if record is None:
        return None
    if not endpoint_answers(record.endpoint):
        raise SandboxError(
            f"the sandbox recorded in {sandbox_file(data_dir)} ({record.endpoint}, pid "
            f"{record.pid}) is not answering; start `tenantctl sandbox` again or delete the file"
        )
    return record.endpoint


def client_env(endpoint: str) -> dict[str, str]:
    """Environment for tools (boto3, the AWS CLI, pulumi) to use the sandbox."""
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def _check_port_free(port: int) -> None:
    """Fail fast: moto's server thread would die on a taken port and leave `start` waiting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((SANDBOX_HOST, port))
        except OSError as exc:
            raise SandboxError(
                f"cannot listen on {SANDBOX_HOST}:{port} ({exc.strerror}); "
                "choose another --port (0 picks a free one)"
            ) from exc


class Sandbox:
    """A moto server on 127.0.0.1 whose endpoint is recorded in the data directory."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT) -> None:
        self._data_dir = data_dir
        # Imported here: reading the record (every runner operation) must not load moto.
        from moto.server import ThreadedMotoServer  # noqa: PLC0415

        self._port = port
        self._server = ThreadedMotoServer(ip_address=SANDBOX_HOST, port=port, verbose=False)
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise SandboxError("the sandbox is not running")
        return self._endpoint

    def start(self) -> str:
        """Start serving and record the endpoint; refuses when another sandbox answers."""
        record = read_record(self._data_dir)
        if record is not None and endpoint_answers(record.endpoint):
            raise SandboxError(
                f"a sandbox already runs at {record.endpoint} (pid {record.pid}, recorded in "
                f"{sandbox_file(self._data_dir)}); stop it first"
            )
        _check_port_free(self._port)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint = f"http://{host}:{port}"
        write_private(
            sandbox_file(self._data_dir),
            json.dumps({"endpoint": self._endpoint, "pid": os.getpid()}) + "\n",
        )
        return self._endpoint

    def stop(self) -> None:
        """Stop serving and remove the record, if it is still this sandbox's."""
        if self._endpoint is None:
            return
        self._server.stop()
        try:
            record = read_record(self._data_dir)
        except SandboxError:
            record = None
        if record is not None and record.endpoint == self._endpoint:
            sandbox_file(self._data_dir).unlink(missing_ok=True)
        self._endpoint = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
