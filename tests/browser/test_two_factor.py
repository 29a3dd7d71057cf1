"""Staff two-factor sign-in in a real browser: with ADMIN_2FA_REQUIRED an admin is sent to set up an
authenticator after the password, sees the QR code (inline SVG, under the portal's CSP) and the secret,
confirms with a first code, gets the ten recovery codes, and from then on signs in with a code."""
import time

import pyotp
import pytest
from conftest import PASSWORD, _empty_database
from helpers import create_user
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
PORTAL_SETTINGS = {"ADMIN_2FA_REQUIRED": True}


@pytest.fixture
def staff(portal):
    _empty_database()
    return create_user(portal.app, "staff@provider.example", admin=True, authorized=False, name="Sam Staff")


@pytest.fixture(params=[True, False], ids=["htmx", "no-javascript"])
def any_page(request, browser, browser_context_args):
    """A page with JavaScript (the login form posts over htmx) and one without (plain form posts)."""
    context = browser.new_context(**browser_context_args, java_script_enabled=request.param)
    try:
        yield context.new_page()
    finally:
        context.close()


def _password_step(page, portal, staff):
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill(staff.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_enrolment_then_sign_in_with_a_code(any_page, portal, staff):
    page = any_page
    refused = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))

    _password_step(page, portal, staff)
    page.wait_for_url(f"{portal.url}/two-factor")
    expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
    qr = page.locator(".qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 100 and box["height"] >= 100
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32

    # Straight to an admin page: the enrolment page again.
    page.goto(f"{portal.url}/admin/")
    page.wait_for_url(f"{portal.url}/two-factor?next=/admin/")
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret

    page.get_by_label("Authentication code", exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your authenticator is set up")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="I have saved them: continue").click()
    page.wait_for_url(f"{portal.url}/admin/")
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{portal.url}/login")
    _password_step(page, portal, staff)
    page.wait_for_url(f"{portal.url}/login/code")
    expect(page.get_by_role("heading", name="Authentication code")).to_be_visible()

    page.get_by_label("Authentication code", exact=True).fill("12345")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".error")).to_contain_text("That code is not right")

    # The code of the next step: the one of this step was spent on confirming the app.
    page.get_by_label("Authentication code", exact=True).fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{portal.url}/admin/")
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    assert refused == []
