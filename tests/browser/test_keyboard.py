"""Keyboard only: Tab, Enter, Space, Escape and typing, never a click. Focus follows every htmx swap.

Opening a form focuses its heading; errors bring up a summary that takes the focus and links to each
field; Save focuses the saved row (highlighted for a moment) and the message is announced; Escape or
Cancel closes the form and gives the focus back to the button that opened it.
"""
from datetime import timedelta

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def focused(page):
    """A short description of the focused element: tag#id.class text."""
    return page.evaluate(
        "(() => { const e = document.activeElement; return e.tagName.toLowerCase() + '#' + e.id + '.' +"
        " e.className + ' ' + e.textContent.replace(/\\s+/g, ' ').trim().slice(0, 60); })()"
    )


def is_focused(page, selector):
    return page.evaluate("s => document.activeElement.matches(s)", selector)


def tab_to(page, selector, limit=60):
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if is_focused(page, selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}; the focus is on {focused(page)}")


def expect_focus(page, selector):
    page.wait_for_function("s => document.activeElement && document.activeElement.matches(s)", arg=selector,
                           timeout=5000)


def keyboard_log_in(page, portal, user, password=PASSWORD):
    page.goto(f"{portal.url}/login")
    expect_focus(page, "#email")  # the login form puts the focus on Email
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def type_date(page, day):
    """Chromium's date field (en-US) takes month, day and year typed in a row."""
    page.keyboard.type(f"{day:%m%d%Y}")


def choose_proof(page, pdf, name="proof.pdf"):
    """On the focused file field, Space opens the file chooser (the test answers it)."""
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files({"name": name, "mimeType": "application/pdf", "buffer": pdf})


@pytest.fixture(autouse=True)
def file_chooser_intercepted(page):
    """Listen for file choosers from the start.

    Playwright asks the browser to hand it file choosers when a first listener is added, without
    waiting for the answer: a Space pressed right after `expect_file_chooser` could reach the page
    first, open a chooser nobody sees, and time out (seen under load). A listener added with the page
    has that settled long before any key is pressed; `choose_proof` still answers each chooser.
    """
    page.on("filechooser", lambda chooser: None)


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US"}


def test_a_wrong_password_puts_the_focus_on_the_error(page, portal, customer):
    keyboard_log_in(page, portal, customer, password="not the password")
    expect_focus(page, ".error-summary")
    expect(page.locator(".error-summary")).to_contain_text("The email or password is not right.")
    # The summary links to the field: Tab, Enter, and the focus is in Password.
    page.keyboard.press("Tab")
    assert is_focused(page, '.error-summary a[href="#password"]'), focused(page)
    page.keyboard.press("Enter")
    expect_focus(page, "#password")


def test_add_license_with_an_error_then_success(page, portal, customer, pdf):
    keyboard_log_in(page, portal, customer)
    page.wait_for_url(f"{portal.url}/licenses")
    tab_to(page, 'a.button[href="/licenses/new"]')
    page.keyboard.press("Enter")
    expect_focus(page, "#license-form-heading")
    expect(page.locator("#license-form-heading")).to_have_text("Add License")

    # Only the plan, then Enter: the form comes back with a summary of what is missing, focused.
    tab_to(page, "#plan")
    page.keyboard.type("Office 365 E3")
    page.keyboard.press("Enter")
    expect_focus(page, ".error-summary")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.locator('a[href="#seats"]')).to_be_visible()
    expect(summary.locator('a[href="#proof"]')).to_be_visible()
    expect(summary.locator('a[href="#product"]')).to_have_count(0)  # the only product is filled in
    expect(page.locator("#announcer")).to_have_text("")  # no stale success message is spoken
    # The summary's first link leads to its field.
    page.keyboard.press("Tab")
    assert is_focused(page, '.error-summary a[href="#seats"]'), focused(page)
    page.keyboard.press("Enter")
    expect_focus(page, "#seats")
    expect(page.locator("#seats")).to_have_attribute("aria-describedby", "seats-error")

    page.keyboard.type("25")
    tab_to(page, "#plan")
    expect(page.locator("#plan")).to_have_value("Office 365 E3")  # what was typed is still there
    tab_to(page, "#term")
    page.keyboard.type("Yearly")
    tab_to(page, "#expires_on")
    type_date(page, portal.today() + timedelta(days=200))
    tab_to(page, "#tenant")
    page.keyboard.type("northwind.onmicrosoft.com")
    # The contact was filled in from the signed-in user; it can still be changed.
    tab_to(page, "#contact_name")
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("Pat Doe")
    tab_to(page, "#contact_email")
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("pat@northwind.example")
    tab_to(page, "#proof")
    choose_proof(page, pdf)
    tab_to(page, '#license-form button[type="submit"]')
    page.keyboard.press("Enter")

    # Saved: the focus is on the new row, highlighted, and the message is announced.
    expect_focus(page, "#license-table tr.just-saved")
    expect(page.locator("#license-table tr.just-saved")).to_contain_text("Office 365 E3")
    expect(page.locator("#announcer")).to_have_text(
        "Office 365 E3 was added. The document could not be checked against what you entered, as it does not "
        "show those details as text (a scan or a photo, for example): staff will check it. Until then it is "
        "awaiting review.")
    # The next Tab goes on from the row (its Update link), not back to the top of the page.
    page.keyboard.press("Tab")
    assert is_focused(page, "tr.just-saved a"), focused(page)


def test_update_escape_and_cancel_give_the_focus_back(page, portal, customer, pdf, log_in, fill_license_form):
    log_in(page, customer)
    # One license to update, entered the usual way.
    page.get_by_role("link", name="Add License").click()
    fill_license_form(page, portal.today() + timedelta(days=20))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("was added")
    page.goto(f"{portal.url}/licenses")
    update = 'a.button[href$="/update"]'

    # Escape closes the form: the focus is back on Update.
    tab_to(page, update)
    page.keyboard.press("Enter")
    expect_focus(page, "#license-form-heading")
    expect(page.locator("#license-form-heading")).to_have_text("Update Office 365 E3")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(page.locator("#license-form")).to_have_count(0)
    expect_focus(page, update)
    expect(page.locator("#announcer")).to_have_text("Form closed. Nothing was saved.")

    # Cancel does the same.
    page.keyboard.press("Enter")
    expect_focus(page, "#license-form-heading")
    tab_to(page, "#license-form a[data-close-form]")
    page.keyboard.press("Enter")
    expect(page.locator("#license-form")).to_have_count(0)
    expect_focus(page, update)
    assert page.url == f"{portal.url}/licenses"

    # Update by keyboard: the new date and proof, Save; the focus lands on the renewed row.
    page.keyboard.press("Enter")
    expect_focus(page, "#license-form-heading")
    renewed = portal.today() + timedelta(days=380)
    tab_to(page, "#expires_on")
    type_date(page, renewed)
    tab_to(page, "#proof")
    choose_proof(page, pdf, name="renewal.pdf")
    tab_to(page, '#license-form button[type="submit"]')
    page.keyboard.press("Enter")
    expect_focus(page, "#license-table tr.just-saved")
    row = page.locator("#license-table tr.just-saved")
    expect(row).to_contain_text("renewal.pdf")
    expect(page.locator("#announcer")).to_contain_text("Office 365 E3 was updated.")
