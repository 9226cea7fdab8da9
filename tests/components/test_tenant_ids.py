"""Tenant ids AWS or DNS would refuse, or that read as something else, are refused at every
entry point (the spec, stack files, billing events, the CLI) with a message saying why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from components.plans import PlanName
from components.spec import (
    RESERVED_TENANT_IDS,
    TENANT_ID_RULE,
    TenantSpec,
    format_validation_error,
)
from components.stack_config import InvalidStackError
from control_plane.billing.events import IntentMapper, MalformedEvent, parse_event
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.cli import app
from planner.stacks import StackFiles

REFUSED = [
    ("xn--acme", "starts with 'xn--'"),
    ("sthree-acme", "starts with 'sthree-'"),
    ("sthree-configurator", "starts with 'sthree-'"),
    ("amzn-s3-demo-acme", "starts with 'amzn-s3-demo-'"),
    ("acme-s3alias", "ends with '-s3alias'"),
    ("acme--ol-s3", "ends with '--ol-s3'"),
    ("acme--x-s3", "ends with '--x-s3'"),
    ("acme--table-s3", "ends with '--table-s3'"),
    *[(word, "is a reserved word") for word in ("admin", "www", "aws", "root", "api", "null")],
    ("default", "is a reserved word"),
    ("Acme", "is not valid"),
    ("acme-", "is not valid"),
    ("9acme", "is not valid"),
    ("ac", "is not valid"),
    ("a" * 21, "is not valid"),
    ("acme_corp", "is not valid"),
]


def _spec(tenant_id: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "plan": "starter",
        "region": "eu-west-1",
        "residency": "eu",
        "network": {"cidr": "10.64.0.0/20"},
    }


@pytest.mark.parametrize(("tenant_id", "why"), REFUSED)
def test_the_spec_refuses_the_id_and_says_why_and_what_is_allowed(tenant_id: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TenantSpec.model_validate(_spec(tenant_id))

    message = format_validation_error(refused.value)
    assert f"tenant_id: tenant id {tenant_id!r} {why}" in message
    assert TENANT_ID_RULE in message
    # A person reads it: no regular expression.
    assert not any(token in message for token in ("^", "$", "[a-z", "{1,"))


@pytest.mark.parametrize(
    "tenant_id", ["acme", "xn-acme", "s3alias-co", "sthree", "admins", "www2", "default-co"]
)
def test_ids_that_only_resemble_reserved_ones_are_allowed(tenant_id: str) -> None:
    assert TenantSpec.model_validate(_spec(tenant_id)).tenant_id == tenant_id


def test_the_reserved_words_are_the_documented_ones() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert ", ".join(f"`{w}`" for w in sorted(RESERVED_TENANT_IDS)) in readme


@pytest.mark.parametrize("tenant_id", ["xn--acme", "admin", "acme--ol-s3"])
def test_a_stack_file_with_such_an_id_is_refused(tmp_path: Path, tenant_id: str) -> None:
    path = tmp_path / f"Pulumi.{tenant_id}.yaml"
    path.write_text(yaml.safe_dump({"config": {"tenants:spec": _spec(tenant_id)}}))

    with pytest.raises(InvalidStackError, match=f"tenant id {tenant_id!r}"):
        StackFiles(tmp_path).read_spec(tenant_id)


@pytest.mark.parametrize("tenant_id", ["sthree-acme", "root", "acme-s3alias"])
def test_a_billing_event_naming_such_an_id_is_refused(tenant_id: str) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    document = subscription_event(
        "customer.subscription.created",
        event_id="evt_1",
        created=int((now - timedelta(minutes=1)).timestamp()),
        subscription_id="sub_1",
        tenant_id=tenant_id,
        plan=PlanName.STARTER,
    )
    settings = BillingSettings(webhook_secrets=("whsec_test",))
    event = parse_event(encode(document), now)

    with pytest.raises(MalformedEvent, match=f"tenant_id: tenant id {tenant_id!r}"):
        IntentMapper(settings).intent_for(event)


@pytest.mark.parametrize("tenant_id", ["xn--acme", "admin"])
def test_the_cli_refuses_such_an_id_and_writes_nothing(tmp_path: Path, tenant_id: str) -> None:
    env = {
        "TENANTS_DATA_DIR": str(tmp_path / "data"),
        "TENANTS_STACKS_DIR": str(tmp_path / "stacks"),
        "COLUMNS": "300",
    }
    args = ["tenants", "create", tenant_id, "--plan", "starter", "--region", "eu-west-1"]

    result = CliRunner().invoke(app, args, env=env)

    assert result.exit_code == 1, result.output
    assert f"tenant id {tenant_id!r}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "stacks").exists() or not list((tmp_path / "stacks").iterdir())


def test_a_refused_id_is_reported_with_every_other_error() -> None:
    data = {**_spec("admin"), "plan": "free", "region": "us-east-1", "compute": {"max_size": 4}}

    with pytest.raises(ValidationError) as refused:
        TenantSpec.model_validate(data)

    message = format_validation_error(refused.value)
    assert message.startswith("invalid tenant spec, 3 errors:")
    assert "tenant_id: tenant id 'admin' is a reserved word" in message
    assert "region: region 'us-east-1' is outside residency 'eu'" in message
    assert "compute.max_size: max_size 4 exceeds plan 'free' limit of 1" in message
