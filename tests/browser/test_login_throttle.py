"""The login pause in a real browser: with htmx the form is swapped in place with the message, and
without JavaScript the page comes back with it; either way the user can read what to do."""
import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
PORTAL_SETTINGS = {"LOGIN_MAX_FAILURES_PER_EMAIL": 2}


@pytest.fixture(params=[True, False], ids=["htmx", "no-javascript"])
def any_page(request, browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=request.param)
    try:
        yield context.new_page(), request.param
    finally:
        context.close()


def _submit(page, email, password, with_js):
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    if with_js:
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
            page.get_by_role("button", name="Log in").click()
        assert answer.value.request.headers.get("hx-request") == "true"
    else:
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()


def test_the_pause_is_shown_in_place_and_the_right_password_waits(any_page, portal, customer):
    page, with_js = any_page
    page.goto(f"{portal.url}/login")
    for _ in range(2):
        _submit(page, customer.email, "not the password", with_js)
        expect(page.locator("#login-form")).to_contain_text("The email or password is not right.")

    _submit(page, customer.email, PASSWORD, with_js)

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed logins.")
    expect(alert).to_contain_text("try again in 15 minutes")
    assert page.url == f"{portal.url}/login"
    expect(page.get_by_role("heading", name="Log in to the Onboarding Portal")).to_have_count(1)


def test_logging_in_with_htmx_lands_on_the_tab(page, portal, customer):
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill(customer.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal.url}/licenses")
    expect(page.get_by_role("link", name="Add License")).to_be_visible()
