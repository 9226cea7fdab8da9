"""Authenticator codes (TOTP) for platform accounts: enrolment through `tenantctl users totp`
(the secret shown once, stored encrypted), sign-in that needs the current code, refusals
that count toward the lockout, a code never accepted twice, and the bad paths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from control_plane.accounts.errors import (
    ConflictError,
    InvalidRequestError,
    UnavailableError,
)
from control_plane.accounts.roles import PlatformRole
from control_plane.accounts.settings import AccountsSettings
from control_plane.cli import app as tenantctl
from control_plane.registry.account_models import AccountEvent, User
from tests.web.portal.page_helpers import form_token
from tests.web.test_checkout_and_cli import _env
from tests.web.web_helpers import PASSWORD, SmtpSink, World, make_world

API = "/api/v1"
KEY = Fernet.generate_key().decode()
OPERATOR = "ops@example.com"


@pytest.fixture
def world(tmp_path: Path, sink: SmtpSink) -> Iterator[World]:
    built = make_world(
        tmp_path, sink, accounts=AccountsSettings(totp_key=SecretStr(KEY), lockout_threshold=3)
    )
    with built.client:
        yield built
    built.database.dispose()


def _enrol(world: World, email: str = OPERATOR) -> pyotp.TOTP:
    user_id = world.user(email, platform_role=PlatformRole.OPERATOR)
    enrolment = world.accounts.totp_enrolment(user_id)
    assert enrolment.uri.startswith("otpauth://totp/Tenants:ops%40example.com?secret=")
    app = pyotp.TOTP(enrolment.secret)
    world.accounts.enable_totp(
        user_id, enrolment.secret, app.at(world.clock.now), actor="tenantctl:root"
    )
    return app


def _sign_in(world: World, code: str | None = None) -> tuple[int, str]:
    body = {"email": OPERATOR, "password": PASSWORD}
    if code is not None:
        body["totp"] = code
    answer = world.client.post(f"{API}/sessions", json=body)
    world.client.cookies.clear()
    return answer.status_code, answer.json().get("detail", "")


def test_sign_in_needs_the_current_code_once_enrolled(world: World) -> None:
    app = _enrol(world)
    now = world.clock.now

    assert _sign_in(world) == (
        401,
        "this account also needs the current 6-digit code of its authenticator app: "
        "send it as `totp`",
    )
    assert _sign_in(world, "000000" if app.at(now) != "000000" else "111111") == (
        401,
        "wrong, expired or already used authenticator code",
    )
    # The code of the step after enrolment's: the enrolment code itself is used up.
    world.clock.advance(timedelta(seconds=30))
    code = app.at(world.clock.now)
    status, _ = _sign_in(world, code)
    assert status == 201
    assert _sign_in(world, code) == (401, "wrong, expired or already used authenticator code")
    # A code from two minutes ago is expired.
    assert _sign_in(world, app.at(world.clock.now - timedelta(minutes=2)))[0] == 401
    world.clock.advance(timedelta(seconds=30))
    assert _sign_in(world, app.at(world.clock.now))[0] == 201
    me = world.accounts.find_user(OPERATOR)
    assert me.totp_enabled and me.locked_until is None


def test_missing_and_wrong_codes_count_toward_the_lockout(world: World) -> None:
    app = _enrol(world)
    world.clock.advance(timedelta(seconds=30))

    assert _sign_in(world)[0] == 401
    assert _sign_in(world, "123456" if app.at(world.clock.now) != "123456" else "654321")[0] == 401
    assert _sign_in(world)[0] == 401
    status, detail = _sign_in(world, app.at(world.clock.now))
    assert status == 429 and "locked after repeated failed sign-ins" in detail


def test_the_secret_is_stored_encrypted_and_never_in_the_audit_log(world: World) -> None:
    user_id = world.user(OPERATOR, platform_role=PlatformRole.OPERATOR)
    enrolment = world.accounts.totp_enrolment(user_id)
    with world.database.transaction() as session:
        assert session.get(User, user_id).totp_secret is None  # type: ignore[union-attr]
    world.accounts.enable_totp(
        user_id,
        enrolment.secret,
        pyotp.TOTP(enrolment.secret).at(world.clock.now),
        actor="tenantctl:root",
    )
    with world.database.transaction() as session:
        stored = session.get(User, user_id).totp_secret  # type: ignore[union-attr]
        events = session.scalars(select(AccountEvent)).all()
    assert stored is not None and enrolment.secret not in stored
    assert Fernet(KEY).decrypt(stored.encode()).decode() == enrolment.secret
    assert [e.action for e in events][-1] == "user.totp-enable"
    assert all(enrolment.secret not in f"{e.subject} {e.detail}" for e in events)


def test_enrolment_refusals(world: World, tmp_path: Path, sink: SmtpSink) -> None:
    customer = world.user("customer@example.com")
    with pytest.raises(InvalidRequestError, match="authenticator codes are for platform accounts"):
        world.accounts.totp_enrolment(customer)
    operator = world.user(OPERATOR, platform_role=PlatformRole.OPERATOR)
    enrolment = world.accounts.totp_enrolment(operator)
    with pytest.raises(InvalidRequestError, match="the code does not match the new secret"):
        world.accounts.enable_totp(operator, enrolment.secret, "12345x", actor="t")
    assert not world.accounts.find_user(OPERATOR).totp_enabled
    world.accounts.enable_totp(
        operator, enrolment.secret, pyotp.TOTP(enrolment.secret).at(world.clock.now), actor="t"
    )
    with pytest.raises(ConflictError, match="has an authenticator enrolled already"):
        world.accounts.totp_enrolment(operator)
    world.accounts.disable_totp(operator, actor="t")
    assert _sign_in(world)[0] == 201
    with pytest.raises(ConflictError, match="has no authenticator enrolled"):
        world.accounts.disable_totp(operator, actor="t")

    keyless = make_world(tmp_path / "keyless", sink)
    auditor = keyless.user("audit@example.com", platform_role=PlatformRole.AUDITOR)
    with pytest.raises(UnavailableError, match="TENANTS_ACCOUNTS_TOTP_KEY"):
        keyless.accounts.totp_enrolment(auditor)
    keyless.database.dispose()


def test_a_malformed_key_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="must be a Fernet key"):
        AccountsSettings(totp_key=SecretStr("not-a-key"))


def test_tenantctl_enrols_an_operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = pyotp.random_base32()
    monkeypatch.setattr(pyotp, "random_base32", lambda: secret)
    env = _env(tmp_path) | {"TENANTS_ACCOUNTS_TOTP_KEY": KEY}
    runner = CliRunner()
    created = runner.invoke(
        tenantctl,
        ["users", "create", OPERATOR, "--name", "Ops", "--operator", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert created.exit_code == 0, created.output

    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    enabled = runner.invoke(
        tenantctl,
        ["users", "totp", "enable", OPERATOR],
        input=f"{wrong}\n{pyotp.TOTP(secret).now()}\n",
        env=env,
    )

    assert enabled.exit_code == 0, enabled.output
    assert f"otpauth://totp/Tenants:ops%40example.com?secret={secret}" in enabled.output
    assert "the code does not match the new secret" in enabled.output
    assert "now signs in with its password and an authenticator code" in enabled.output
    again = runner.invoke(
        tenantctl, ["users", "totp", "enable", OPERATOR], input="000000\n", env=env
    )
    assert again.exit_code == 1 and "enrolled already" in again.output
    assert secret not in again.output
    disabled = runner.invoke(tenantctl, ["users", "totp", "disable", OPERATOR], env=env)
    assert disabled.exit_code == 0 and "password alone" in disabled.output
    customer = runner.invoke(
        tenantctl,
        ["users", "create", "c@example.com", "--name", "C", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert customer.exit_code == 0
    refused = runner.invoke(tenantctl, ["users", "totp", "enable", "c@example.com"], env=env)
    assert refused.exit_code == 1 and "for platform accounts" in refused.output
    assert "otpauth" not in refused.output and "Traceback" not in refused.output


def test_the_portal_sign_in_form_asks_for_the_code_of_an_enrolled_account(world: World) -> None:
    app = _enrol(world)
    world.clock.advance(timedelta(seconds=30))

    def post(code: str) -> tuple[int, str]:
        fields = {"email": OPERATOR, "password": PASSWORD, "totp": code, "next": "/"}
        fields["csrf_token"] = form_token(world, "/login")
        answer = world.client.post("/login", data=fields, follow_redirects=False)
        world.client.cookies.clear()
        return answer.status_code, answer.text

    status, page = post("")
    assert status == 401 and "needs the current 6-digit code" in page
    assert 'autocomplete="one-time-code"' in page
    status, _ = post(app.at(world.clock.now))
    assert status == 303
