"""In Chromium: sign up, confirm the address from the mail the SMTP sink caught, sign in,
and the account pages pass axe-core's WCAG 2.1 A/AA checks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.portal.browser_helpers import Live, check_accessibility, screenshot
from tests.web.web_helpers import PASSWORD

pytestmark = pytest.mark.browser


def sign_up_and_in(page: Any, live: Live, email: str, name: str, *, shots: bool = False) -> None:
    """Sign up in the browser, confirm with the mailed code, sign in."""
    page.goto("/signup")
    if shots:
        check_accessibility(page, "sign-up")
        screenshot(page, "01-sign-up")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/verify")
    assert f"mailed a confirmation code to {email}" in page.inner_text("main")
    page.get_by_label("Confirmation code from the e-mail").fill(
        live.world.sink.code(email, "confirm")
    )
    if shots:
        check_accessibility(page, "verify")
        screenshot(page, "02-verify")
    page.get_by_role("button", name="Confirm", exact=True).click()
    page.wait_for_url("**/login")
    assert "is confirmed" in page.inner_text("main")
    if shots:
        check_accessibility(page, "sign-in")
        screenshot(page, "03-sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.url}/")
    assert f"Signed in as {email}" in page.inner_text("main")


def test_sign_up_confirm_and_sign_in(new_page: Any, live: Live) -> None:
    page = new_page
    page.goto("/")
    page.wait_for_url("**/login?next=/")
    sign_up_and_in(page, live, "grace@example.com", "Grace", shots=True)
    assert page.get_by_role("heading", name="Your tenants").is_visible()
    check_accessibility(page, "home")
    screenshot(page, "04-home")
    # Keyboard: the skip link is the first stop and moves focus to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    page.wait_for_url("**/login?next=/")


def test_password_reset_in_the_browser(new_page: Any, live: Live) -> None:
    live.world.user("henry@example.com", name="Henry")
    page = new_page
    page.goto("/password-reset")
    check_accessibility(page, "password reset")
    page.get_by_label("E-mail address").fill("henry@example.com")
    page.get_by_role("button", name="Mail me a reset code").click()
    page.wait_for_url("**/password-reset/confirm")
    page.get_by_label("Reset code from the e-mail").fill(
        live.world.sink.code("henry@example.com", "reset")
    )
    page.get_by_label("New password").fill("a brand new passphrase 42")
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url("**/login")
    page.get_by_label("E-mail address").fill("henry@example.com")
    page.get_by_label("Password").fill("a brand new passphrase 42")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.url}/")
