"""The tenant stack files, `stacks/Pulumi.<tenant>.yaml`: the GitOps source of truth.

`pulumi up -s <tenant>` reads these files directly (`stackConfigDir: stacks`), and the
control plane writes them, so both paths deploy the same spec.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.spec import TenantSpec
from components.stack_config import (
    MAX_SPEC_FILE_BYTES,
    SPEC_KEY,
    InvalidStackError,
    RefusedYamlError,
    load_spec_yaml,
    spec_from_config,
    spec_text,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_STACK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
"""What `Pulumi.<stack>.yaml` may hold as a stack name (Pulumi's characters, no path)."""
STACK_FILE_MODE = 0o644
"""Mode of a new stack file (a regular repository file)."""


class UnknownTenantError(LookupError):
    """No stack file for the tenant; the message lists the known tenants."""

    def __init__(self, tenant: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none"
        super().__init__(f"unknown tenant {tenant!r}; known tenants: {listing}")
        self.tenant = tenant
        self.known = known


def stack_name(path: Path) -> str:
    """The stack (tenant) a `Pulumi.<stack>.yaml` file belongs to."""
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


class StackFiles:
    """Reads and writes the per-tenant stack files of one stacks directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else PROJECT_ROOT / "stacks"

    def tenants(self) -> list[str]:
        """Stack names that have a file, sorted."""
        return sorted(stack_name(p) for p in self.root.glob("Pulumi.*.yaml"))

    def path(self, tenant: str) -> Path:
        """The stack file of `tenant`, always directly inside the stacks directory."""
        if not _STACK_NAME.fullmatch(tenant):
            # A name with a path separator or dots would point outside the directory.
            raise UnknownTenantError(tenant, self.tenants())
        return self.root / f"Pulumi.{tenant}.yaml"

    def read_config(self, tenant: str) -> dict[str, Any]:
        """The file's `config:` mapping, as written."""
        return _config_of(tenant, self._read(tenant))

    def _read(self, tenant: str) -> bytes:
        """The stack file's bytes, refused unread when it is larger than a spec may be."""
        path = self.path(tenant)
        if not path.is_file():
            raise UnknownTenantError(tenant, self.tenants())
        size = path.stat().st_size
        if size > MAX_SPEC_FILE_BYTES:
            raise InvalidStackError(
                tenant,
                f"{size} bytes is larger than {MAX_SPEC_FILE_BYTES // 1024} KiB, the limit "
                "for a tenant spec or stack file",
            )
        return path.read_bytes()

    def documents(
        self, tenants: Iterable[str] | None = None, parsed: MutableMapping[str, Any] | None = None
    ) -> Iterator[StackDocument]:
        """Each stack's `tenants:spec` as written (unvalidated), every stack by default.

        `parsed` remembers specs by the SHA-256 of their file's bytes (`planner.cache`
        keeps it between runs): a file read before is not parsed again. Only specs made of
        plain JSON values are remembered; any other file is parsed afresh, so a bad one
        still explains itself.
        """
        for tenant in self.tenants() if tenants is None else tenants:
            spec = None
            with contextlib.suppress(InvalidStackError, UnknownTenantError, OSError):
                content = self._read(tenant)
                name = hashlib.sha256(content).hexdigest()
                if parsed is not None and name in parsed:
                    spec = parsed[name]["spec"]
                else:
                    spec = _config_of(tenant, content).get(SPEC_KEY)
                    if parsed is not None and plain_json(spec):
                        parsed[name] = {"spec": spec}
            yield StackDocument(tenant, self.path(tenant), spec)

    def read_spec(self, tenant: str) -> TenantSpec:
        """The validated spec of a stack; `InvalidStackError` lists every offending field."""
        return spec_from_config(tenant, self.read_config(tenant))

    def write_spec(self, spec: TenantSpec) -> Path:
        """Write (or replace) the tenant's stack file, keeping its other config keys."""
        path = self.path(spec.tenant_id)
        config: dict[str, Any] = {}
        mode = STACK_FILE_MODE
        if path.is_file():
            config = dict(self.read_config(spec.tenant_id))
            mode = stat.S_IMODE(path.stat().st_mode)
        config[SPEC_KEY] = spec.model_dump(mode="json", exclude_defaults=True)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        # Stack files are repository files: an edit keeps the file's mode, a new file gets
        # git's regular mode whatever the umask.
        tmp.chmod(mode)
        tmp.replace(path)
        return path

    def remove(self, tenant: str) -> None:
        path = self.path(tenant)
        if not path.is_file():
            raise UnknownTenantError(tenant, self.tenants())
        path.unlink()


def _config_of(tenant: str, content: bytes) -> dict[str, Any]:
    """The `config:` mapping of a stack file's bytes."""
    try:
        document = load_spec_yaml(spec_text(content)) or {}
    except RefusedYamlError as error:
        raise InvalidStackError(tenant, str(error)) from None
    except yaml.YAMLError as error:
        raise InvalidStackError(tenant, f"not valid YAML: {error}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise InvalidStackError(tenant, "the file has no `config:` mapping")
    return config


def plain_json(value: Any) -> bool:
    """Whether `value` is made only of what JSON carries unchanged (YAML also has dates,
    sets, binary and non-string keys)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, list):
        return all(plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    return False


@dataclass(frozen=True)
class StackDocument:
    """One stack file read without validation: what fleet checks and cache keys need."""

    stack: str
    path: Path
    spec: Any
    """The raw `tenants:spec` value; `None` when the file is unreadable or has none."""

    @property
    def spec_mapping(self) -> Mapping[str, Any]:
        """The spec when it is a mapping, else empty (for checks that tolerate bad files)."""
        return self.spec if isinstance(self.spec, dict) else {}
