"""The portal's route table as the page tests walk it, and a signed-in browser session
for FastAPI's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

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

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)


def _needs_session(dependant: Dependant) -> bool:
    return any(d.call is auth._signed_in or _needs_session(d) for d in dependant.dependencies)


def page_routes() -> Iterator[PageRoute]:
    """Every route and method of every portal router."""
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute) and not route.path.startswith(MACHINE_PATHS)
            for method in sorted(route.methods - {"HEAD"}):
                yield PageRoute(route.path, method, _needs_session(route.dependant))


def sign_in(world: World, email: str) -> str:
    """Put `email`'s new session cookie on the client; its CSRF token."""
    signed_in = world.accounts.sign_in(email, PASSWORD, address="tests")
    world.client.cookies.clear()
    world.client.cookies.set(SESSION_COOKIE, signed_in.session_token)
    return signed_in.csrf_token
