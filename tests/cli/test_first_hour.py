"""What a newcomer trips on in the first hour: the messages say what is wrong and what to
do, and the same problem reads the same from every command."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from control_plane.billing.settings import DEFAULT_PRICE_PLANS, BillingSettings
from control_plane.cli import environment, ops
from tests.cli.conftest import Invoke

ROOT = Path(__file__).resolve().parents[2]
CREATE = ["tenants", "create", "acme", "--plan", "starter", "--region", "eu-west-1"]


def test_the_printed_stack_file_is_the_one_written(tenantctl: Invoke, tmp_path: Path) -> None:
    elsewhere = tmp_path / "gitops" / "stacks"
    created = tenantctl(*CREATE, env={"TENANTS_STACKS_DIR": str(elsewhere)})
    assert created.exit_code == 0, created.output
    written = elsewhere / "Pulumi.acme.yaml"
    assert written.is_file()
    assert f"stack file written: {written}" in created.stdout
    as_json = tenantctl(
        "tenants", "create", "beta", "--plan", "free", "--region", "us-east-1", "--json",
        env={"TENANTS_STACKS_DIR": str(elsewhere)},
    )  # fmt: skip
    assert json.loads(as_json.stdout)["stack_file"] == str(elsewhere / "Pulumi.beta.yaml")


UNKNOWN_TENANT = [
    ["tenants", "show", "ghost"],
    ["tenants", "update", "ghost", "--plan", "pro"],
    ["tenants", "suspend", "ghost"],
    ["tenants", "resume", "ghost"],
    ["tenants", "delete", "ghost"],
    ["up", "ghost"],
    ["preview", "ghost"],
    ["refresh", "ghost"],
    ["history", "ghost"],
    ["invoices", "ghost"],
    ["invoices", "ghost", "--preview", "2026-11"],
    ["plan", "ghost"],
    ["check", "ghost"],
]


def test_an_unknown_tenant_reads_the_same_from_every_command(tenantctl: Invoke) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    for command in UNKNOWN_TENANT:
        result = tenantctl(*command)
        assert result.exit_code == 2, (command, result.output)
        assert re.search(r"unknown tenant 'ghost'; known tenants: acme\b", result.stderr), (
            command,
            result.stderr,
        )


def test_from_stack_without_a_stack_file_says_so(tenantctl: Invoke, tmp_path: Path) -> None:
    result = tenantctl("tenants", "create", "hooli", "--from-stack")
    assert result.exit_code == 1
    assert "no stack file for tenant 'hooli' at" in result.stderr
    assert str(tmp_path / "stacks" / "Pulumi.hooli.yaml") in " ".join(result.stderr.split())


def test_a_bad_tenant_id_says_what_a_tenant_id_may_be(tenantctl: Invoke) -> None:
    result = tenantctl("tenants", "create", "Bad_Id", "--plan", "starter", "--region", "eu-west-1")
    assert result.exit_code == 1
    shown = " ".join(result.stderr.split())
    assert "tenant id 'Bad_Id' is not valid: a tenant id is 3 to 20 lower-case letters" in shown
    assert "starts with a letter and ends with a letter or digit" in shown
    assert "pattern" not in shown and "[a-z]" not in shown


def test_suspend_and_resume_are_refused_whatever_is_queued(tenantctl: Invoke) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    assert tenantctl("worker", "--drain").exit_code == 0
    # Active and running: nothing to resume.
    refused = tenantctl("tenants", "resume", "acme")
    assert refused.exit_code == 1
    assert "cannot resume tenant 'acme' in state 'active'" in refused.stderr
    # Being suspended (a suspend is queued, the state is 'updating'): not again, and the
    # allowed list names only what people may ask for.
    assert tenantctl("tenants", "suspend", "acme").exit_code == 0
    again = tenantctl("tenants", "suspend", "acme")
    assert again.exit_code == 1
    message = " ".join(again.stderr.split())
    assert "cannot suspend tenant 'acme' in state 'updating' (it is already suspended or " in (
        message
    )
    assert message.endswith("allowed in 'updating': update, resume, deprovision, preview, refresh")
    # Being resumed: a second resume is refused the same way, a suspend is allowed.
    assert tenantctl("tenants", "resume", "acme").exit_code == 0
    twice = tenantctl("tenants", "resume", "acme")
    assert "cannot resume tenant 'acme' in state 'updating' (it is not suspended)" in " ".join(
        twice.stderr.split()
    )
    assert tenantctl("worker", "--drain").exit_code == 0
    assert "active" in tenantctl("tenants", "show", "acme").stdout


def test_a_draft_invoice_has_no_issued_date(tenantctl: Invoke, tmp_path: Path) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    month = _this_month()
    html = tmp_path / "draft.html"
    result = tenantctl("invoices", "acme", "--preview", month, "--html", str(html))
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "Draft invoice" in page and "Issued" not in page


def test_an_invoice_for_a_month_before_the_tenant_existed_says_so(tenantctl: Invoke) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    result = tenantctl("invoices", "acme", "--issue", "2024-10", "--meter")
    assert result.exit_code == 1
    shown = " ".join(result.stderr.split())
    assert "tenant 'acme' did not exist in 01 Oct 2024 - 31 Oct 2024 (registered on " in shown
    assert "nothing to bill for that month" in shown


def test_meter_without_aws_says_how_to_get_metering(
    tenantctl: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Clients made by earlier tests in this process cached their credentials in boto3's
    # default session; a fresh one sees the environment above.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    result = tenantctl("invoices", "acme", "--preview", _this_month(), "--meter")
    assert result.exit_code == 1
    shown = " ".join(result.stderr.split())
    assert "--meter reads usage from AWS, but Unable to locate credentials" in shown
    assert "set AWS credentials" in shown and "`tenantctl sandbox`" in shown


def test_a_spinner_never_shares_a_line_with_an_error(
    tenantctl: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tenantctl(*CREATE).exit_code == 0
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, emoji=False)
    monkeypatch.setattr(ops, "out", terminal)
    monkeypatch.setattr(environment, "err", terminal)
    result = tenantctl("preview", "acme", "--wait", "--timeout", "1")
    assert result.exit_code == 1
    shown = screen.getvalue()
    assert "waiting for a worker" in shown  # the spinner ran
    error_line = next(line for line in shown.split("\n") if "is still queued after" in line)
    visible = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", error_line).split("\r")[-1]
    assert visible.startswith("error: job")
    before = error_line[: error_line.index("error")]
    assert "waiting for a worker" not in before


def test_configured_prices_extend_the_defaults_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", "whsec_only")
    monkeypatch.setenv("TENANTS_BILLING_PRICE_PLANS", "price_1Pro=pro, price_1Ent=enterprise")
    settings = BillingSettings()
    assert settings.webhook_secrets == ("whsec_only",)
    assert settings.price_plans == {
        **DEFAULT_PRICE_PLANS,
        "price_1Pro": "pro",
        "price_1Ent": "enterprise",
    }
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", " whsec_new , whsec_old ")
    monkeypatch.setenv("TENANTS_BILLING_PRICE_PLANS", '{"price_1Pro": "pro"}')
    monkeypatch.setenv("TENANTS_BILLING_KEEP_DEFAULT_PRICES", "false")
    settings = BillingSettings()
    assert settings.webhook_secrets == ("whsec_new", "whsec_old")
    assert settings.price_plans == {"price_1Pro": "pro"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TENANTS_BILLING_WEBHOOK_SECRETS", '["whsec_a"', "not valid JSON"),
        ("TENANTS_BILLING_WEBHOOK_SECRETS", "whsec_a,,whsec_b", "must not be blank"),
        ("TENANTS_BILLING_PRICE_PLANS", "price_1Pro:pro", "is not price=plan"),
        ("TENANTS_BILLING_PRICE_PLANS", "price_1Pro=gold", "'free', 'starter', 'pro'"),
        ("TENANTS_BILLING_PRICE_PLANS", '["pro"]', "or a JSON object such as"),
    ],
)
def test_bad_billing_settings_are_explained(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("TENANTS_BILLING_WEBHOOK_SECRETS", "whsec_ok")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        BillingSettings()


def _this_month() -> str:
    return f"{datetime.now(UTC):%Y-%m}"
