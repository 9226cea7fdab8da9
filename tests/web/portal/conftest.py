"""Fixtures of the portal tests: the page-level world comes from tests/web; the browser
tests get one served portal and one Chromium for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.web.portal.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Live,
    missing_tools,
    serve_portal,
)
from tests.web.web_helpers import SmtpSink


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[Live]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    with serve_portal(Path(tmp_path_factory.mktemp("portal")), sink) as served:
        yield served


@pytest.fixture(scope="session")
def browser(live: Live) -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh browser context (its own cookies) per test; more pages from `browser`."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
