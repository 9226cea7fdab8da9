"""Stack config -> `TenantSpec`: shared by the Pulumi program and the control plane.

Both paths must reject a bad stack file with the same message, before any resource is
registered, listing every offending field.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from components.spec import TenantSpec, format_validation_error

PROJECT_NAME = "tenants"
SPEC_KEY = f"{PROJECT_NAME}:spec"
"""Structured stack config holding the spec."""
ENDPOINT_KEY = f"{PROJECT_NAME}:awsEndpoint"
"""Optional local AWS endpoint (the moto sandbox)."""
SESSION_KEY = f"{PROJECT_NAME}:roleSessionName"
"""Optional session name the provider assumes the cell's role with (names the job)."""


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
