"""Small things users hit, in a real browser: admin proof links download (hx-boost does not paint the
PDF into the page), no old success message above a form's errors, and a console free of CSP violations
through every kind of swap."""
from datetime import timedelta

import pytest
from helpers import log_in_staff, watch_console
from playwright.sync_api import expect

from webapp.licenses.rules import years_ahead

pytestmark = pytest.mark.browser


def test_an_admin_proof_link_downloads_and_leaves_the_page_alone(page, portal, customer, html_named_proof,
                                                                 staff_user, pdf, watch_page_loads):
    problems = watch_console(page)
    log_in_staff(page, portal, staff_user)
    page.get_by_role("link", name="Northwind Traders").click()  # a boosted navigation
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Traders")
    loads = watch_page_loads(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="proof.html").click()
    download = download_info.value
    assert download.suggested_filename == "proof.pdf"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == pdf
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Traders")
    expect(page.locator("body")).not_to_contain_text("%PDF")
    loads.assert_none()

    page.get_by_role("link", name="Office 365 E3").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("MS Office 365: Office 365 E3")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="proof.html").click()
    assert download_info.value.suggested_filename == "proof.pdf"
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []


def test_no_old_success_message_above_errors_and_no_csp_violation_in_any_swap(page, portal, customer, log_in,
                                                                              fill_license_form):
    problems = watch_console(page)
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    fill_license_form(page, portal.today() + timedelta(days=200))
    page.get_by_role("button", name="Save").click()  # the panel swap, with the message out of band
    messages = page.locator("#messages")
    expect(messages).to_have_text("Office 365 E3 was added.")

    page.get_by_role("link", name="Add License").click()
    fill_license_form(page, portal.today() + timedelta(days=200), plan="Office 365 E5", term="Monthly")
    page.get_by_role("button", name="Save").click()  # a 422 swap of the form
    expect(page.locator("#term-error")).to_contain_text("Only yearly Office 365 plans")
    expect(messages).to_have_text("")

    # htmx's indicator rules come from our stylesheet, not an inline <style> the CSP would refuse.
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    opacity = page.evaluate(
        "(() => { const e = document.createElement('span'); e.className = 'htmx-indicator';"
        " document.body.appendChild(e); return getComputedStyle(e).opacity; })()"
    )
    assert opacity == "0"
    assert page.evaluate("window.__cspViolations") == []
    # Chromium logs every 4xx answer to a request; the form's 422 (CONVENTIONS.md) is that, and only that.
    assert problems == ["Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"]


def test_dates_outside_the_pickers_range_still_get_the_servers_message(page, portal, customer, log_in,
                                                                       fill_license_form):
    """The date field's min and max guide the picker; a typed date outside them is still explained."""
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    field = page.get_by_label("Expiration date", exact=True)
    today = portal.today()
    expect(field).to_have_attribute("min", today.isoformat())
    fill_license_form(page, today - timedelta(days=1))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#expires_on-error")).to_contain_text("This date has passed")

    expect(field).to_have_attribute("max", years_ahead(today, 5).isoformat())
    fill_license_form(page, years_ahead(today, 6), plan="Office 365 E5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#expires_on-error")).to_contain_text("more than 5 years ahead")
