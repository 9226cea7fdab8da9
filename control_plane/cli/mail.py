"""`tenantctl mail outbox`: messages kept when no SMTP relay is configured."""

from __future__ import annotations

from typing import Annotated

import typer

from control_plane.accounts.mail import outbox as read_outbox
from control_plane.cli.context import JsonOption, out, print_json, registry

mail_app = typer.Typer(
    name="mail", help="Outgoing mail kept without an SMTP relay.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(mail_app)


@mail_app.command("outbox")
def outbox(
    clear: Annotated[bool, typer.Option("--clear", help="Delete the messages printed.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Print the outbox, oldest first."""
    with registry() as (_settings, database):
        messages = read_outbox(database, clear=clear)
    if as_json:
        print_json(
            [
                {"to": m.recipient, "subject": m.subject, "body": m.body, "at": m.created_at}
                for m in messages
            ]
        )
        return
    if not messages:
        out.print("the outbox is empty")
    for message in messages:
        out.print(
            f"To: {message.recipient}\nSubject: {message.subject}\n"
            f"Date: {message.created_at:%Y-%m-%d %H:%M:%S} UTC\n\n{message.body}",
            highlight=False,
            markup=False,
            # A mail's lines stay whole (codes and links): never re-wrapped to the terminal.
            soft_wrap=True,
        )
