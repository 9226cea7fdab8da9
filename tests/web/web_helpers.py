"""The API test world: a registry, a real SMTP sink on 127.0.0.1, a settable clock (accounts
and plan claims), the app under FastAPI's TestClient, and shortcuts to make verified users
with tokens."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient

from control_plane.accounts.mail import make_mailer
from control_plane.accounts.roles import PlatformRole, Scope
from control_plane.accounts.service import AccountService
from control_plane.accounts.settings import AccountsSettings, SmtpSettings
from control_plane.billing.reconcile import BillingReconciler
from control_plane.billing.samples import checkout_completed_event, encode
from control_plane.billing.self_service import SelfServiceBilling
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.queue.worker import Worker
from control_plane.registry.database import Database, open_database
from control_plane.web.app import build_context, create_app
from control_plane.web.checkout import CheckoutSettings
from control_plane.web.deps import WebContext
from control_plane.web.limits import RequestLimits
from tests.control_plane.control_plane_helpers import make_settings, recording_runner

SECRET = "whsec_api_tests_0123456789"
PASSWORD = "correct horse battery staple"
CODE = re.compile(r"\b(tml_[A-Za-z0-9_-]{20,})")


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def code(self, address: str, subject_word: str) -> str:
        """The code in the latest mail to `address` whose subject has `subject_word`."""
        for message in reversed(self.to(address)):
            if subject_word.lower() in str(message["Subject"]).lower():
                found = CODE.search(str(message.get_payload()))
                assert found, f"no code in {message.get_payload()!r}"
                return found.group(1)
        raise AssertionError(f"no {subject_word!r} mail to {address}: {self.messages}")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class World:
    """Everything one API test works with."""

    client: TestClient
    context: WebContext
    database: Database
    sink: SmtpSink
    clock: Clock
    billing: BillingSettings
    tmp: Path

    @property
    def accounts(self) -> AccountService:
        return self.context.accounts

    def user(
        self, email: str, *, platform_role: PlatformRole | None = None, name: str = "Someone"
    ) -> int:
        """A verified account, made directly (the sign-up path has its own tests)."""
        return self.accounts.create_user(
            email, PASSWORD, name, platform_role=platform_role, verified=True
        ).id

    def token(
        self,
        email: str,
        *,
        scope: Scope = Scope.WRITE,
        tenant_id: str | None = None,
        lifetime: timedelta = timedelta(days=1),
    ) -> str:
        signed_in = self.accounts.sign_in(email, PASSWORD, address="tests")
        principal = self.accounts.principal_for_session(signed_in.session_token)
        raw, _view = self.accounts.issue_token(
            principal, name="tests", scope=scope, tenant_id=tenant_id, lifetime=lifetime
        )
        return raw

    def send_checkout(
        self, tenant_id: str, plan: Any, *, event_id: str, sub: str, region: str = "eu-west-1"
    ) -> None:
        """The billing system's signed `checkout.session.completed`, then one reconcile."""
        event = checkout_completed_event(
            event_id=event_id,
            created=int(self.clock.now.timestamp()),
            subscription_id=sub,
            tenant_id=tenant_id,
            plan=plan,
            region=region,
        )
        body = encode(event)
        stamp = int(datetime.now(UTC).timestamp())
        response = self.client.post(
            "/hooks/billing",
            content=body,
            headers={"Stripe-Signature": signature_header(body, (SECRET,), stamp)},
        )
        assert response.status_code == 200, response.text
        BillingReconciler(self.database, self.context.tenants).reconcile()
        self.accounts.sweep()

    def run_jobs(self) -> None:
        worker = Worker(
            self.database,
            self.context.tenants.settings,
            recording_runner(self.context.tenants.settings),
        )
        worker.drain()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_world(
    tmp: Path,
    sink: SmtpSink,
    *,
    limits: RequestLimits | None = None,
    checkout: CheckoutSettings | None = None,
    accounts: AccountsSettings | None = None,
    database_url: str = "",
    prices: dict[str, str] | None = None,
) -> World:
    settings = make_settings(tmp, database_url)
    database = open_database(settings.registry_url)
    billing = BillingSettings(
        webhook_secrets=(SECRET,),
        price_plans={
            "free-monthly": "free",
            "starter-monthly": "starter",
            "pro-monthly": "pro",
            "enterprise-monthly": "enterprise",
            "price_1StarterMonthly": "starter",
            **(prices or {}),
        },
    )
    smtp = SmtpSettings(host="127.0.0.1", port=sink.port, starttls=False, sender="t@test.example")
    clock = Clock()
    built = build_context(
        database,
        settings,
        accounts=accounts or AccountsSettings(),
        smtp=smtp,
        checkout=checkout or CheckoutSettings(),
        billing=billing,
    )
    # The same services, with an account clock the expiry tests can move.
    context = dataclasses.replace(
        built,
        accounts=AccountService(database, built.accounts.settings, make_mailer(smtp), clock=clock),
        billing=SelfServiceBilling(database, built.tenants, built.checkout, clock=clock),
    )
    app = create_app(context, billing, SqlBillingStore(database), limits=limits)
    client = TestClient(app, base_url="http://127.0.0.1")
    return World(client, context, database, sink, clock, billing, tmp)
