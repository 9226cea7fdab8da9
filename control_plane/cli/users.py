"""`tenantctl users`: create accounts (the first operator) and lift lockouts, locally."""

from __future__ import annotations

import sys
from getpass import getuser
from typing import Annotated

import typer

from control_plane.accounts.errors import AccountsError, InvalidRequestError
from control_plane.accounts.mail import make_mailer
from control_plane.accounts.roles import PlatformRole
from control_plane.accounts.service import AccountService
from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.cli.context import JsonOption, out, print_json, registry
from control_plane.cli.environment import fail, load_settings

users_app = typer.Typer(
    name="users",
    help="Accounts: create the first operator, lift lockouts, authenticator codes, disable.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app)


def _accounts() -> tuple[AccountsSettings, SmtpSettings]:
    return load_settings(AccountsSettings), load_settings(SmtpSettings)


@users_app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The sign-in address.")],
    *,
    name: Annotated[str, typer.Option(help="Display name.")],
    operator: Annotated[bool, typer.Option("--operator", help="Platform role operator.")] = False,
    platform_role: Annotated[
        PlatformRole | None, typer.Option(help="A platform role (operator, support, auditor).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a verified account; platform staff get their role here."""
    if operator and platform_role not in (None, PlatformRole.OPERATOR):
        raise fail("--operator and --platform-role disagree; give one")
    role = PlatformRole.OPERATOR if operator else platform_role
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings, smtp = _accounts()
    with registry() as (_settings, database):
        service = AccountService(database, settings, make_mailer(smtp))
        try:
            user = service.create_user(
                email,
                password,
                name,
                platform_role=role,
                verified=True,
                actor=f"tenantctl:{getuser()}",
            )
        except AccountsError as error:
            raise fail(str(error)) from None
    if as_json:
        print_json(user)
    else:
        out.print(
            f"user {user.id} {user.email} created ({user.platform_role or 'no platform role'})"
        )


@users_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The account's address.")]) -> None:
    """Stop an account: sessions end, tokens are revoked, sign-in is refused."""
    settings, smtp = _accounts()
    with registry() as (_settings, database):
        service = AccountService(database, settings, make_mailer(smtp))
        try:
            user = service.disable(service.find_user(email).id, actor=f"tenantctl:{getuser()}")
        except AccountsError as error:
            raise fail(str(error)) from None
    out.print(f"{user.email} is disabled; its sessions and tokens no longer work")


@users_app.command("unlock")
def unlock(email: Annotated[str, typer.Argument(help="The locked account's address.")]) -> None:
    """Lift a sign-in lockout."""
    settings, smtp = _accounts()
    with registry() as (_settings, database):
        service = AccountService(database, settings, make_mailer(smtp))
        try:
            user = service.unlock(service.find_user(email).id, actor=f"tenantctl:{getuser()}")
        except AccountsError as error:
            raise fail(str(error)) from None
    out.print(f"{user.email} may sign in again")


totp_app = typer.Typer(
    name="totp",
    help="Authenticator codes (TOTP) at sign-in, for platform accounts.",
    no_args_is_help=True,
)
users_app.add_typer(totp_app)
TOTP_ATTEMPTS = 3


@totp_app.command("enable")
def totp_enable(
    email: Annotated[str, typer.Argument(help="The platform account's address.")],
) -> None:
    """Show a new authenticator secret once (an otpauth:// URI) and, once the app's current
    code confirms it, require codes at sign-in."""
    settings, smtp = _accounts()
    with registry() as (_settings, database):
        service = AccountService(database, settings, make_mailer(smtp))
        try:
            user = service.find_user(email)
            enrolment = service.totp_enrolment(user.id)
        except AccountsError as error:
            raise fail(str(error)) from None
        out.print("Add this to the authenticator app (it is not shown again):")
        out.print(enrolment.uri, markup=False, highlight=False, soft_wrap=True)
        for attempt in range(1, TOTP_ATTEMPTS + 1):
            code = typer.prompt("current code from the app")
            try:
                service.enable_totp(user.id, enrolment.secret, code, actor=f"tenantctl:{getuser()}")
            except InvalidRequestError as error:
                if attempt == TOTP_ATTEMPTS:
                    raise fail(f"{error}; nothing was stored, run the command again") from None
                out.print(str(error))
                continue
            except AccountsError as error:
                raise fail(str(error)) from None
            break
    out.print(f"{user.email} now signs in with its password and an authenticator code")


@totp_app.command("disable")
def totp_disable(
    email: Annotated[str, typer.Argument(help="The platform account's address.")],
) -> None:
    """Stop requiring authenticator codes (a lost device); the account should re-enrol."""
    settings, smtp = _accounts()
    with registry() as (_settings, database):
        service = AccountService(database, settings, make_mailer(smtp))
        try:
            user = service.disable_totp(service.find_user(email).id, actor=f"tenantctl:{getuser()}")
        except AccountsError as error:
            raise fail(str(error)) from None
    out.print(f"{user.email} signs in with its password alone")
