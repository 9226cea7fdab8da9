"""Outgoing mail: SMTP when `TENANTS_SMTP_HOST` is set, otherwise the outbox table.

Messages are sent after the transaction that created their token commits, so a mail
never points at a token that was rolled back; the outbox is written in that transaction.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.accounts.settings import SmtpSettings
from control_plane.registry.account_models import OutboxMessage
from control_plane.registry.database import Database


@dataclass(frozen=True)
class Mail:
    recipient: str
    subject: str
    body: str


class MailError(RuntimeError):
    """The relay refused or could not be reached; the message names it."""


class Mailer(Protocol):
    def queue(self, session: Session, mail: Mail) -> None:
        """Called inside the transaction that produced the mail."""

    def deliver(self, mail: Mail) -> None:
        """Called once that transaction has committed."""


class SmtpMailer:
    """Sends through the configured relay."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def queue(self, session: Session, mail: Mail) -> None:
        return None

    def deliver(self, mail: Mail) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        try:
            with smtplib.SMTP(
                settings.host, settings.port, timeout=settings.timeout_seconds
            ) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.username:
                    smtp.login(settings.username, settings.password.get_secret_value())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(
                f"mail to {mail.recipient} not sent via {settings.host}:{settings.port}: {error}"
            ) from None


class OutboxMailer:
    """Keeps messages in the registry for `tenantctl mail outbox` (no relay configured)."""

    def queue(self, session: Session, mail: Mail) -> None:
        session.add(OutboxMessage(recipient=mail.recipient, subject=mail.subject, body=mail.body))

    def deliver(self, mail: Mail) -> None:
        return None


def make_mailer(settings: SmtpSettings) -> Mailer:
    return SmtpMailer(settings) if settings.host else OutboxMailer()


def outbox(database: Database, *, clear: bool = False) -> list[OutboxMessage]:
    """The outbox, oldest first; `clear` deletes what was returned."""
    with database.transaction() as session:
        messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        if clear:
            for message in messages:
                session.delete(message)
        return messages
