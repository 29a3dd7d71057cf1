"""Client Licenses with JavaScript turned off: every step is an ordinary page and form POST."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from webapp.core.filters import day
from webapp.extensions import db
from webapp.licenses.store import licenses_of

pytestmark = pytest.mark.browser


@pytest.fixture
def page_without_js(browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def _plans(user):
    with db.database.connection_context():
        return [lic.plan for lic in licenses_of(user.account_id)]


def test_add_license_without_javascript(page_without_js, portal, customer, log_in, fill_license_form):
    page = page_without_js
    expires_on = portal.today() + timedelta(days=200)
    log_in(page, customer)
    page.get_by_role("link", name="Client Licenses").click()
    expect(page.locator("#byol-status h2")).to_have_text("BYOL needs proof of licensing")

    page.get_by_role("link", name="Add License").click()
    page.wait_for_url(f"{portal.url}/licenses/new")
    expect(page).to_have_title("Add License · Example Hosting")
    expect(page.get_by_role("heading", name="Add License")).to_be_visible()
    fill_license_form(page, expires_on)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()

    assert page.url == f"{portal.url}/licenses"
    expect(page.locator("#messages")).to_contain_text("Office 365 E3 was added.")
    row = page.locator("#license-table tbody tr", has_text="Office 365 E3")
    expect(row).to_contain_text(day(expires_on))
    expect(row).to_contain_text("proof.pdf")
    expect(page.locator("#byol-status h2")).to_have_text(f"BYOL is valid until {day(expires_on)}")
    assert _plans(customer) == ["Office 365 E3"]


def test_monthly_term_refused_without_javascript(page_without_js, portal, customer, log_in, fill_license_form):
    page = page_without_js
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    page.wait_for_url(f"{portal.url}/licenses/new")
    fill_license_form(page, portal.today() + timedelta(days=200), plan="Microsoft 365 Business Standard",
                      term="Monthly")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save").click()

    assert navigation.value.status == 422
    term = page.get_by_label("Subscription term", exact=True)
    error = page.locator(".field", has=term).locator(".error")
    expect(error).to_contain_text("Only yearly Office 365 plans can be used for BYOL")
    expect(error).to_contain_text("Example Hosting's subscription-based Office products")
    expect(term).to_have_value("Monthly")
    expect(page.get_by_label("Plan", exact=True)).to_have_value("Microsoft 365 Business Standard")
    expect(page.locator("#license-table")).to_have_count(0)
    assert _plans(customer) == []
