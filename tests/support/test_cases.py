"""Support cases: opening with the tenant's snapshot, the thread, closing and reopening,
tenant scoping, the order support reads them in, and every refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from control_plane.queue.jobs import JobKind
from control_plane.registry.account_models import AccountEvent, TenantClaim
from control_plane.registry.database import Database
from control_plane.registry.support_models import CaseSide, CaseStatus, SupportCase
from control_plane.service import TenantService
from control_plane.support.cases import (
    MAX_BODY,
    MAX_SUBJECT,
    Author,
    CaseNotFoundError,
    CaseStateError,
    InvalidCaseError,
    SupportService,
)
from tests.control_plane.control_plane_helpers import spec_data

Person = Callable[[str, CaseSide], Author]


@pytest.fixture
def customer(person: Person) -> Author:
    return person("ana@acme.example", CaseSide.CUSTOMER)


@pytest.fixture
def engineer(person: Person) -> Author:
    return person("sam@provider.example", CaseSide.SUPPORT)


@pytest.fixture
def acme(service: TenantService, drain: Callable[[], None]) -> str:
    service.create(spec_data("acme"), actor="test")
    drain()
    service.update("acme", {"compute": {"max_size": 3}}, actor="user:ana@acme.example")
    return "acme"


def test_a_case_records_the_page_and_the_tenant_as_it_was(
    support: SupportService, service: TenantService, acme: str, customer: Author
) -> None:
    case = support.open_case(
        acme,
        subject="  Scaling did not happen ",
        body="I asked for 3 instances.\r\nNothing changed.",
        page="/portal/tenants/acme/settings?tab=compute",
        author=customer,
    )

    assert (case.subject, case.status, case.awaiting) == (
        "Scaling did not happen",
        "open",
        "support",
    )
    assert case.page == "/portal/tenants/acme/settings?tab=compute"
    assert case.opened_by == "user:ana@acme.example"
    assert [(m.side, m.body) for m in case.thread] == [
        ("customer", "I asked for 3 instances.\nNothing changed.")
    ]
    snapshot = case.snapshot
    # The offline runner only plans: the state says so, as the tenant's pages do.
    assert (snapshot.state, snapshot.plan, snapshot.region) == (
        "updating (plan)",
        "starter",
        "eu-west-1",
    )
    assert [op.action for op in snapshot.operations] == ["update", "provision", "create"]
    assert snapshot.operations[0].actor == "user:ana@acme.example"
    # The snapshot stays as it was when the tenant moves on.
    service.run(acme, JobKind.PREVIEW, actor="test")
    assert support.case(case.id, tenant_id=acme).snapshot == snapshot


def test_the_thread_alternates_and_a_closed_case_takes_no_answer(
    support: SupportService, acme: str, customer: Author, engineer: Author
) -> None:
    case = support.open_case(acme, subject="Help", body="It is down", page="/", author=customer)
    answered = support.answer(case.id, tenant_id=None, body="Looking at it", author=engineer)
    assert answered.awaiting == "customer"
    assert [(m.author, m.side) for m in answered.thread] == [
        ("user:ana@acme.example", "customer"),
        ("user:sam@provider.example", "support"),
    ]
    closed = support.close(case.id, tenant_id=None, actor=engineer.actor)
    assert (closed.status, closed.closed_by) == ("closed", engineer.actor)
    with pytest.raises(CaseStateError, match=rf"^case {case.id} is closed: reopen it to answer$"):
        support.answer(case.id, tenant_id=acme, body="Still down", author=customer)
    with pytest.raises(CaseStateError, match="already closed"):
        support.close(case.id, tenant_id=acme, actor=customer.actor)
    reopened = support.reopen(case.id, tenant_id=acme, author=customer)
    assert (reopened.status, reopened.awaiting, reopened.closed_at) == ("open", "support", None)
    with pytest.raises(CaseStateError, match="already open"):
        support.reopen(case.id, tenant_id=acme, author=customer)
    assert len(support.case(case.id, tenant_id=acme).thread) == 2


def test_another_tenants_case_is_not_found(
    support: SupportService,
    service: TenantService,
    acme: str,
    customer: Author,
) -> None:
    service.create(spec_data("globex"), actor="test")
    case = support.open_case(acme, subject="Help", body="Down", page="/", author=customer)
    for call in (
        lambda: support.case(case.id, tenant_id="globex"),
        lambda: support.answer(case.id, tenant_id="globex", body="x", author=customer),
        lambda: support.close(case.id, tenant_id="globex", actor=customer.actor),
        lambda: support.reopen(case.id, tenant_id="globex", author=customer),
        lambda: support.case(case.id + 1, tenant_id=None),
    ):
        with pytest.raises(CaseNotFoundError, match=r"^case \d+ not found$"):
            call()
    assert support.cases(tenant_id="globex") == []
    with pytest.raises(CaseNotFoundError, match="tenant 'initech' not found"):
        support.open_case("initech", subject="x", body="y", page="/", author=customer)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("subject", "", "subject: one line of 1 to 200 characters"),
        ("subject", "x" * (MAX_SUBJECT + 1), r"\(got 201 characters\)"),
        ("subject", "two\nlines", "subject: one line"),
        ("subject", "bell\x07", "without control characters"),
        ("body", "   ", "body: 1 to 10000 characters"),
        ("body", "x" * (MAX_BODY + 1), r"\(got 10001 characters\)"),
        ("body", "escape \x1b[31m", "no control characters but tabs and line breaks"),
        ("page", "https://evil.example/", "page: a path of this site"),
        ("page", "//evil.example/x", "page: a path of this site"),
        ("page", "/with space", "page: a path of this site"),
        ("page", "/" + "a" * 512, "at most 512 characters"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_written(
    support: SupportService,
    *,
    database: Database,
    acme: str,
    customer: Author,
    field: str,
    value: str,
    message: str,
) -> None:
    fields = {"subject": "Help", "body": "Down", "page": "/"} | {field: value}
    with pytest.raises(InvalidCaseError, match=message):
        support.open_case(acme, author=customer, **fields)
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SupportCase)) == 0


def test_support_reads_open_cases_first_those_awaiting_it_first(
    support: SupportService, acme: str, customer: Author, engineer: Author
) -> None:
    first = support.open_case(acme, subject="first", body="b", page="/", author=customer)
    second = support.open_case(acme, subject="second", body="b", page="/", author=customer)
    third = support.open_case(acme, subject="third", body="b", page="/", author=customer)
    support.answer(third.id, tenant_id=None, body="answered", author=engineer)
    support.close(second.id, tenant_id=None, actor=engineer.actor)

    listed = support.cases(tenant_id=None)
    assert [(c.subject, c.status, c.awaiting, c.messages) for c in listed] == [
        ("first", "open", "support", 1),
        ("third", "open", "customer", 2),
        ("second", "closed", "support", 1),
    ]
    assert [c.id for c in support.cases(tenant_id=acme, status=CaseStatus.CLOSED)] == [second.id]
    assert [c.id for c in support.cases(tenant_id=None, limit=1, offset=1)] == [third.id]
    assert first.id < second.id


def test_opening_closing_and_reopening_are_in_the_audit_log(
    support: SupportService, database: Database, acme: str, customer: Author, engineer: Author
) -> None:
    case = support.open_case(acme, subject="Help", body="Down", page="/", author=customer)
    support.close(case.id, tenant_id=None, actor=engineer.actor)
    support.reopen(case.id, tenant_id=acme, author=customer)
    with database.transaction() as session:
        events = session.scalars(select(AccountEvent).order_by(AccountEvent.id)).all()
        assert [(e.actor, e.action, e.tenant_id, e.subject) for e in events] == [
            (customer.actor, "case.open", acme, f"case {case.id}"),
            (engineer.actor, "case.close", acme, f"case {case.id}"),
            (customer.actor, "case.reopen", acme, f"case {case.id}"),
        ]


def test_a_tenant_waiting_for_billing_gets_a_snapshot_from_its_claim(
    support: SupportService, database: Database, customer: Author
) -> None:
    with database.transaction() as session:
        session.add(
            TenantClaim(
                tenant_id="initech", user_id=customer.user_id, plan="pro", region="us-east-1"
            )
        )
    case = support.open_case("initech", subject="Checkout", body="Stuck", page="/", author=customer)
    assert (case.snapshot.state, case.snapshot.plan, case.snapshot.region) == (
        "awaiting-billing",
        "pro",
        "us-east-1",
    )
    assert case.snapshot.operations == []
