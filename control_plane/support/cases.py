"""Support cases: a tenant's user opens one from any page; support engineers answer in it.

A case records the page it was opened from and a snapshot of the tenant at that moment
(state, plan, region, last error, its last operations). Its thread holds every message
with its author and side; `awaiting` says whose answer is due. Opening, closing and
reopening are written to the accounts audit log with the actor.

Callers are authorized before they get here (the web's dependencies); every read and
change of a tenant's case takes the tenant id too, so a case of another tenant is not
found rather than shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.registry.account_models import AccountEvent, TenantClaim
from control_plane.registry.database import Database
from control_plane.registry.models import Tenant, utcnow
from control_plane.registry.repository import Registry
from control_plane.registry.support_models import CaseMessage, CaseSide, CaseStatus, SupportCase

MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_PAGE = 512
SNAPSHOT_OPERATIONS = 5
MAX_SNAPSHOT_TEXT = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab and newline: never stored."""
_PAGE = re.compile(r"^/(?!/)[\x21-\x7e]*$")
"""A path of this site: a leading slash, no scheme or host, no spaces."""


class CaseNotFoundError(LookupError):
    """No such case for the caller (another tenant's case ids land here too)."""


class CaseStateError(Exception):
    """The case's status does not allow the request (answering a closed case, ...)."""


class InvalidCaseError(ValueError):
    """A subject, message or page is not acceptable; the message names the field."""


@dataclass(frozen=True)
class SnapshotOperation:
    id: int
    action: str
    status: str
    actor: str
    started_at: str
    error: str | None


@dataclass(frozen=True)
class CaseSnapshot:
    """The tenant as it was when the case was opened."""

    state: str
    plan: str
    region: str | None
    last_error: str | None
    operations: list[SnapshotOperation]


@dataclass(frozen=True)
class MessageView:
    id: int
    author: str
    side: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class CaseSummary:
    id: int
    tenant_id: str
    subject: str
    status: str
    awaiting: str
    opened_by: str
    page: str
    created_at: datetime
    updated_at: datetime
    messages: int


@dataclass(frozen=True)
class CaseView:
    id: int
    tenant_id: str
    subject: str
    status: str
    awaiting: str
    opened_by: str
    page: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    snapshot: CaseSnapshot
    thread: list[MessageView]


@dataclass(frozen=True)
class Author:
    """Who writes: the actor name of the audit log, the user, and their side."""

    actor: str
    user_id: int
    side: CaseSide


def check_subject(subject: str) -> str:
    text = subject.strip()
    if not 1 <= len(text) <= MAX_SUBJECT or "\n" in text or _CONTROL.search(text):
        raise InvalidCaseError(
            f"subject: one line of 1 to {MAX_SUBJECT} characters without control characters "
            f"(got {len(text)} characters)"
        )
    return text


def check_body(body: str) -> str:
    text = body.replace("\r\n", "\n").strip()
    if not 1 <= len(text) <= MAX_BODY or _CONTROL.search(text):
        raise InvalidCaseError(
            f"body: 1 to {MAX_BODY} characters, no control characters but tabs and line "
            f"breaks (got {len(text)} characters)"
        )
    return text


def check_page(page: str) -> str:
    if len(page) > MAX_PAGE or not _PAGE.match(page):
        raise InvalidCaseError(
            f"page: a path of this site such as /portal/tenants/acme, at most {MAX_PAGE} "
            f"characters without spaces (got {page[:40]!r})"
        )
    return page


class SupportService:
    """Open, list, read, answer, close and reopen support cases."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.clock = clock

    def open_case(
        self, tenant_id: str, *, subject: str, body: str, page: str, author: Author
    ) -> CaseView:
        """A new case about the tenant with its first message and the tenant's snapshot."""
        fields = check_subject(subject), check_body(body), check_page(page)
        now = self.clock()
        with self.database.transaction() as session:
            snapshot = _snapshot(session, tenant_id)
            row = SupportCase(
                tenant_id=tenant_id,
                subject=fields[0],
                status=CaseStatus.OPEN.value,
                awaiting=_other(author.side).value,
                page=fields[2],
                opened_by=author.actor,
                opened_by_user_id=author.user_id,
                snapshot=snapshot,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            self._add_message(session, row, fields[1], author, now)
            _audit(session, now, author.actor, "case.open", row, detail=fields[0])
            return _view(session, row)

    def cases(
        self,
        *,
        tenant_id: str | None,
        status: CaseStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CaseSummary]:
        """Cases of one tenant (or all, for support): open first, those awaiting support
        before those awaiting the customer, then the most recently active."""
        messages = (
            select(CaseMessage.case_id, func.count().label("count"))
            .group_by(CaseMessage.case_id)
            .subquery()
        )
        query = select(SupportCase, messages.c.count).join(
            messages, messages.c.case_id == SupportCase.id
        )
        if tenant_id is not None:
            query = query.where(SupportCase.tenant_id == tenant_id)
        if status is not None:
            query = query.where(SupportCase.status == status.value)
        query = query.order_by(
            when((SupportCase.status == CaseStatus.OPEN.value, 0), else_=1),
            when((SupportCase.awaiting == CaseSide.SUPPORT.value, 0), else_=1),
            SupportCase.updated_at.desc(),
            SupportCase.id.desc(),
        )
        with self.database.transaction() as session:
            rows = session.execute(query.limit(limit).offset(offset)).all()
            return [_summary(row, count) for row, count in rows]

    def case(self, case_id: int, *, tenant_id: str | None) -> CaseView:
        """One case with its thread; `tenant_id` scopes the lookup (None: any tenant)."""
        with self.database.transaction() as session:
            return _view(session, _find(session, case_id, tenant_id))

    def answer(self, case_id: int, *, tenant_id: str | None, body: str, author: Author) -> CaseView:
        """Add a message; the other side's answer is due next. A closed case is reopened
        first (`reopen`), so nobody writes into a case nobody reads."""
        text = check_body(body)
        now = self.clock()
        with self.database.transaction() as session:
            row = _find(session, case_id, tenant_id, for_update=True)
            if row.status != CaseStatus.OPEN.value:
                raise CaseStateError(f"case {case_id} is closed: reopen it to answer")
            self._add_message(session, row, text, author, now)
            row.awaiting = _other(author.side).value
            row.updated_at = now
            return _view(session, row)

    def close(self, case_id: int, *, tenant_id: str | None, actor: str) -> CaseView:
        now = self.clock()
        with self.database.transaction() as session:
            row = _find(session, case_id, tenant_id, for_update=True)
            if row.status == CaseStatus.CLOSED.value:
                raise CaseStateError(f"case {case_id} is already closed")
            row.status = CaseStatus.CLOSED.value
            row.closed_at = now
            row.closed_by = actor
            row.updated_at = now
            _audit(session, now, actor, "case.close", row)
            return _view(session, row)

    def reopen(self, case_id: int, *, tenant_id: str | None, author: Author) -> CaseView:
        """Open a closed case again; the side that did not reopen it answers next."""
        now = self.clock()
        with self.database.transaction() as session:
            row = _find(session, case_id, tenant_id, for_update=True)
            if row.status == CaseStatus.OPEN.value:
                raise CaseStateError(f"case {case_id} is already open")
            row.status = CaseStatus.OPEN.value
            row.closed_at = None
            row.closed_by = None
            row.awaiting = _other(author.side).value
            row.updated_at = now
            _audit(session, now, author.actor, "case.reopen", row)
            return _view(session, row)

    @staticmethod
    def _add_message(
        session: Session, row: SupportCase, body: str, author: Author, now: datetime
    ) -> None:
        session.add(
            CaseMessage(
                case_id=row.id,
                author=author.actor,
                author_user_id=author.user_id,
                side=author.side.value,
                body=body,
                created_at=now,
            )
        )
        session.flush()


def open_cases_by_tenant(session: Session) -> dict[str, int]:
    """Tenant id -> its number of open cases (tenants without any are left out)."""
    rows = session.execute(
        select(SupportCase.tenant_id, func.count())
        .where(SupportCase.status == CaseStatus.OPEN.value)
        .group_by(SupportCase.tenant_id)
    )
    return {tenant_id: count for tenant_id, count in rows}


def _other(side: CaseSide) -> CaseSide:
    return CaseSide.SUPPORT if side is CaseSide.CUSTOMER else CaseSide.CUSTOMER


def _find(
    session: Session, case_id: int, tenant_id: str | None, *, for_update: bool = False
) -> SupportCase:
    query = select(SupportCase).where(SupportCase.id == case_id)
    if tenant_id is not None:
        query = query.where(SupportCase.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise CaseNotFoundError(f"case {case_id} not found")
    return row


def _snapshot(session: Session, tenant_id: str) -> dict[str, Any]:
    """The tenant now, as JSON: a registered tenant from the registry, one waiting for
    billing from its claim."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        claim = session.get(TenantClaim, tenant_id)
        if claim is None:
            raise CaseNotFoundError(f"tenant {tenant_id!r} not found")
        return {
            "state": "awaiting-billing",
            "plan": claim.plan,
            "region": claim.region,
            "last_error": None,
            "operations": [],
        }
    registry = Registry(session)
    return {
        "state": registry.display_state(tenant),
        "plan": tenant.plan,
        "region": registry.spec(tenant_id).region,
        "last_error": _clip(tenant.last_error),
        "operations": [
            {
                "id": op.id,
                "action": op.action,
                "status": op.status,
                "actor": op.actor,
                "started_at": op.started_at.isoformat(timespec="seconds"),
                "error": _clip(op.error),
            }
            for op in registry.operations(tenant_id, limit=SNAPSHOT_OPERATIONS)
        ],
    }


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= MAX_SNAPSHOT_TEXT else text[:MAX_SNAPSHOT_TEXT] + "..."


def _audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    row: SupportCase,
    *,
    detail: str = "",
) -> None:
    session.add(
        AccountEvent(
            at=now,
            actor=actor,
            action=action,
            tenant_id=row.tenant_id,
            subject=f"case {row.id}",
            detail=detail,
        )
    )


def _summary(row: SupportCase, messages: int) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        tenant_id=row.tenant_id,
        subject=row.subject,
        status=row.status,
        awaiting=row.awaiting,
        opened_by=row.opened_by,
        page=row.page,
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=messages,
    )


def _view(session: Session, row: SupportCase) -> CaseView:
    thread = session.scalars(
        select(CaseMessage).where(CaseMessage.case_id == row.id).order_by(CaseMessage.id)
    ).all()
    snapshot = row.snapshot
    return CaseView(
        id=row.id,
        tenant_id=row.tenant_id,
        subject=row.subject,
        status=row.status,
        awaiting=row.awaiting,
        opened_by=row.opened_by,
        page=row.page,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        snapshot=CaseSnapshot(
            state=snapshot["state"],
            plan=snapshot["plan"],
            region=snapshot.get("region"),
            last_error=snapshot.get("last_error"),
            operations=[SnapshotOperation(**op) for op in snapshot.get("operations", [])],
        ),
        thread=[MessageView(m.id, m.author, m.side, m.body, m.created_at) for m in thread],
    )
