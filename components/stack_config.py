"""Stack config -> `TenantSpec`: shared by the Pulumi program and the control plane.

Both paths must reject a bad stack file with the same message, before any resource is
registered, listing every offending field.

Tenant specs and stack files are read as YAML without anchors and aliases: they are never
needed there, and a few hundred bytes of nested aliases expand to gigabytes once
validated or printed (an "alias bomb").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from components.spec import TenantSpec, format_validation_error

PROJECT_NAME = "tenants"
SPEC_KEY = f"{PROJECT_NAME}:spec"
"""Structured stack config holding the spec."""
ENDPOINT_KEY = f"{PROJECT_NAME}:awsEndpoint"
"""Optional local AWS endpoint (the moto sandbox)."""
SESSION_KEY = f"{PROJECT_NAME}:roleSessionName"
"""Optional session name the provider assumes the cell's role with (names the job)."""


MAX_SPEC_FILE_BYTES = 256 * 1024
"""Largest tenant spec or stack file read (a real one is a few kilobytes)."""


class RefusedYamlError(yaml.YAMLError):
    """YAML a tenant spec or stack file may not hold: anchors, aliases, or too many bytes."""


# libyaml's parser is several times faster than the pure-Python one; a fleet gate reads
# thousands of stack files.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_anchors(text: str) -> None:
    """Refuse anchors (`&name`) and aliases (`*name`) from the event stream, before anything
    is built from it: an alias bomb is a few hundred bytes of events, never expanded."""
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise RefusedYamlError(
                f"{where}YAML anchors and aliases "
                "(&name, *name) are not allowed in tenant specs and stack files; write "
                "each value out in full"
            )


def load_spec_yaml(text: str) -> Any:
    """Parse a tenant spec or stack file: safe YAML, no anchors or aliases, size-capped."""
    if len(text.encode("utf-8")) > MAX_SPEC_FILE_BYTES:
        raise RefusedYamlError(
            f"larger than {MAX_SPEC_FILE_BYTES // 1024} KiB, the limit for a tenant spec "
            "or stack file"
        )
    _refuse_anchors(text)
    return yaml.load(text, Loader=_LOADER)


def read_spec_yaml(path: Path) -> Any:
    """`load_spec_yaml` of a file, refusing an oversized one before reading it."""
    size = path.stat().st_size
    if size > MAX_SPEC_FILE_BYTES:
        raise RefusedYamlError(
            f"{size} bytes is larger than {MAX_SPEC_FILE_BYTES // 1024} KiB, the limit for "
            "a tenant spec or stack file"
        )
    return load_spec_yaml(spec_text(path.read_bytes()))


def spec_text(content: bytes) -> str:
    """A spec or stack file's bytes as text; `RefusedYamlError` when they are not UTF-8."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RefusedYamlError(
            f"byte {error.start} is not UTF-8 text ({error.reason}); tenant specs and stack "
            "files are UTF-8"
        ) from None


class InvalidStackError(ValueError):
    """A stack file that does not hold a valid tenant spec; the message lists every problem."""

    def __init__(self, tenant: str, message: str) -> None:
        super().__init__(f"stack {tenant!r}: {message}")
        self.tenant = tenant


def spec_from_config(tenant: str, config: dict[str, Any]) -> TenantSpec:
    """Validate the `tenants:spec` object of a stack's config."""
    raw = config.get(SPEC_KEY)
    if raw is None:
        raise InvalidStackError(tenant, f"missing config key `{SPEC_KEY}`")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise InvalidStackError(tenant, f"`{SPEC_KEY}` is not a JSON object: {error}") from None
    try:
        spec = TenantSpec.model_validate(raw)
    except ValidationError as error:
        raise InvalidStackError(tenant, format_validation_error(error)) from None
    if spec.tenant_id != tenant:
        raise InvalidStackError(
            tenant, f"tenant_id {spec.tenant_id!r} must equal the stack name {tenant!r}"
        )
    return spec


def engine_config(
    spec: TenantSpec, aws_endpoint: str | None = None, role_session_name: str | None = None
) -> dict[str, str]:
    """The stack config as the engine hands it to the program: JSON strings by full key."""
    config = {SPEC_KEY: json.dumps(spec.model_dump(mode="json", exclude_defaults=True))}
    if aws_endpoint:
        config[ENDPOINT_KEY] = aws_endpoint
    if role_session_name:
        config[SESSION_KEY] = role_session_name
    return config


def role_session_name(tenant_id: str, job: str | None = None) -> str:
    """`tenants-<tenant>-<job>`: CloudTrail in the cell shows which tenant and job acted.

    STS allows 2-64 of `[\\w+=,.@-]`; the tenant id (at most 20) always fits whole.
    """
    return f"tenants-{tenant_id}-{job or 'manual'}"[:64]
