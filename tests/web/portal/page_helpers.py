"""The portal's route table as the page tests walk it, and a signed-in browser session
for FastAPI's TestClient."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from components.plans import PlanName
from control_plane.billing.invoicing import BillingPeriod, Invoice
from control_plane.billing.metering import MeterReading
from control_plane.web.deps import SESSION_COOKIE
from control_plane.web.portal import auth
from control_plane.web.portal.pages import MACHINE_PATHS, ROUTERS
from tests.web.web_helpers import PASSWORD, World

PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class PageRoute:
    path: str
    method: str
    signed_in: bool
    """Whether the page needs a signed-in browser (its dependencies include the session)."""
    same_site_form: bool
    """Whether a signed-out form post must echo the form cookie's token."""

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)


def _depends_on(dependant: Dependant, call: object) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def page_routes() -> Iterator[PageRoute]:
    """Every route and method of every portal router."""
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute) and not route.path.startswith(MACHINE_PATHS)
            for method in sorted(route.methods - {"HEAD"}):
                yield PageRoute(
                    route.path,
                    method,
                    _depends_on(route.dependant, auth._signed_in),
                    _depends_on(route.dependant, auth._same_site_form),
                )


def form_token(world: World, path: str) -> str:
    """Open a signed-out form page; the token its form posts back (its cookie is set)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', world.client.get(path).text)
    assert found, f"no csrf_token field on {path}"
    return found.group(1)


_ADDRESSES = itertools.count(1)


def sign_in(world: World, email: str) -> str:
    """Put `email`'s new session cookie on the client; its CSRF token."""
    # Each sign-in from its own address: tests over every route sign in more often than
    # the per-address limit allows one client in a minute.
    signed_in = world.accounts.sign_in(email, PASSWORD, address=f"tests-{next(_ADDRESSES)}")
    world.client.cookies.clear()
    world.client.cookies.set(SESSION_COOKIE, signed_in.session_token)
    return signed_in.csrf_token


def free_tenant(world: World, owner: str, tenant_id: str, display_name: str) -> None:
    """A provisioned free tenant owned by `owner` (created through the API)."""
    subscribed_tenant(world, owner, tenant_id, display_name, plan=PlanName.FREE, region="eu-west-1")


def subscribed_tenant(
    world: World, owner: str, tenant_id: str, display_name: str, *, plan: PlanName, region: str
) -> None:
    """A provisioned tenant on `plan` owned by `owner` (created through the API; a paid
    plan's subscription confirmed by the billing system's checkout event)."""
    world.user(owner)
    created = world.client.post(
        "/api/v1/tenants",
        json={
            "tenant_id": tenant_id,
            "plan": plan.value,
            "region": region,
            "display_name": display_name,
        },
        headers={"Authorization": f"Bearer {world.token(owner)}"},
    )
    assert created.status_code == 202, created.text
    if plan is not PlanName.FREE:
        key = tenant_id.replace("-", "_")
        world.send_checkout(tenant_id, plan, event_id=f"evt_{key}", sub=f"sub_{key}", region=region)
    world.run_jobs()


def issue_invoice(world: World, tenant_id: str) -> Invoice:
    """An invoice for a period ending tomorrow, issued as of then (the tenant is new)."""
    today = datetime.now(UTC).date()
    period = BillingPeriod(start=today, end=today + timedelta(days=1))
    return world.context.invoices.issue(
        tenant_id, period, lambda _segment: MeterReading(), issued_on=period.end
    )
