"""The tenant stack files, `stacks/Pulumi.<tenant>.yaml`: the GitOps source of truth.

`pulumi up -s <tenant>` reads these files directly (`stackConfigDir: stacks`), and the
control plane writes them, so both paths deploy the same spec.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.spec import TenantSpec
from components.stack_config import (
    SPEC_KEY,
    InvalidStackError,
    RefusedYamlError,
    read_spec_yaml,
    spec_from_config,
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
        path = self.path(tenant)
        if not path.is_file():
            raise UnknownTenantError(tenant, self.tenants())
        try:
            document = read_spec_yaml(path) or {}
        except RefusedYamlError as error:
            raise InvalidStackError(tenant, str(error)) from None
        except yaml.YAMLError as error:
            raise InvalidStackError(tenant, f"not valid YAML: {error}") from None
        config = document.get("config") if isinstance(document, dict) else None
        if not isinstance(config, dict):
            raise InvalidStackError(tenant, "the file has no `config:` mapping")
        return config

    def documents(self, tenants: Iterable[str] | None = None) -> Iterator[StackDocument]:
        """Each stack's `tenants:spec` as written (unvalidated), every stack by default."""
        for tenant in self.tenants() if tenants is None else tenants:
            try:
                spec = self.read_config(tenant).get(SPEC_KEY)
            except (InvalidStackError, UnknownTenantError, OSError):
                spec = None
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
