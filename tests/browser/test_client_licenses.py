"""Client Licenses in a real browser with JavaScript: Add License and Update open and save in place (htmx),
a form's errors replace the old success message, typed dates the picker would not offer get the server's
message, and no swap breaks the CSP."""
from datetime import timedelta

import pytest
from helpers import watch_console
from playwright.sync_api import expect

from webapp.accounts.models import Account
from webapp.core.filters import day
from webapp.extensions import db
from webapp.licenses.models import License, Product
from webapp.licenses.proofs import Upload, store_upload
from webapp.licenses.rules import years_ahead
from webapp.licenses.store import add_license, history_of, licenses_of

pytestmark = pytest.mark.browser

SHOT = "/tmp/shot-licenses.png"


def _licenses(user):
    with db.database.connection_context():
        return [(lic.plan, lic.current.term, lic.current.expires_on) for lic in licenses_of(user.account_id)]


def test_add_license_saves_in_place_and_turns_byol_valid(page, portal, customer, log_in, fill_license_form,
                                                        watch_page_loads):
    expires_on = portal.today() + timedelta(days=200)
    log_in(page, customer)
    page.get_by_role("link", name="Client Licenses").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Client Licenses")
    expect(page.locator("#byol-status h2")).to_have_text("BYOL needs proof of licensing")
    expect(page.locator("#license-table")).to_contain_text("No licenses yet")
    expect(page.locator("#users-panel li")).to_have_text(["Pat Doe — pat@northwind.example"])
    loads = watch_page_loads(page)

    page.get_by_role("link", name="Add License").click()
    expect(page.get_by_role("heading", name="Add License")).to_be_visible()
    expect(page.get_by_text("Where to find this in Office 365")).to_be_visible()
    assert page.url == f"{portal.url}/licenses"
    loads.assert_none()
    fill_license_form(page, expires_on)
    page.screenshot(path=SHOT, full_page=True)
    page.get_by_role("button", name="Save").click()

    row = page.locator("#license-table tbody tr", has_text="Office 365 E3")
    expect(row).to_be_visible()
    for cell, text in enumerate(
        ["Office 365 E3", "MS Office 365", "25", "Yearly", day(expires_on), "current", "Pat Doe", "proof.pdf"]
    ):
        expect(row.locator("td").nth(cell)).to_contain_text(text)
    expect(page.locator("#byol-status h2")).to_have_text(f"BYOL is valid until {day(expires_on)}")
    expect(page.locator("#byol-status")).to_contain_text("25 BYOL users")
    expect(page.locator("#messages")).to_contain_text("Office 365 E3 was added.")
    expect(page.locator("#license-form")).to_have_count(0)
    expect(page.locator("#license-table")).not_to_contain_text("No licenses yet")
    # The save swaps the licenses panel only: the Users panel beside it stays.
    expect(page.locator("#users-panel li")).to_have_text(["Pat Doe — pat@northwind.example"])
    loads.assert_none()
    assert page.url == f"{portal.url}/licenses"
    assert _licenses(customer) == [("Office 365 E3", "Yearly", expires_on)]


def test_monthly_term_is_refused_next_to_the_field(page, portal, customer, log_in, fill_license_form,
                                                   watch_page_loads):
    expires_on = portal.today() + timedelta(days=200)
    log_in(page, customer)
    loads = watch_page_loads(page)
    page.get_by_role("link", name="Add License").click()
    fill_license_form(page, expires_on, term="Monthly")
    page.get_by_role("button", name="Save").click()

    term = page.get_by_label("Subscription term", exact=True)
    term_field = page.locator(".field", has=term)
    expect(term_field.locator(".error")).to_contain_text("Only yearly Office 365 plans can be used for BYOL")
    expect(term_field.locator(".error")).to_contain_text("switch this plan to a yearly subscription")
    expect(term_field.locator(".error")).to_contain_text("Example Hosting's subscription-based Office products")
    expect(term).to_have_attribute("aria-invalid", "true")
    expect(term).to_have_value("Monthly")
    expect(page.get_by_label("Plan", exact=True)).to_have_value("Office 365 E3")
    expect(page.locator(".kept")).to_contain_text("proof.pdf")
    expect(page.locator("#license-table")).to_contain_text("No licenses yet")
    expect(page.locator("#byol-status h2")).to_have_text("BYOL needs proof of licensing")
    loads.assert_none()
    assert _licenses(customer) == []

    # Fixing the term saves with the proof kept from the refused try; no second upload needed.
    term.select_option(label="Yearly")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#license-table tbody tr", has_text="Office 365 E3")).to_contain_text("proof.pdf")
    expect(page.locator("#byol-status h2")).to_have_text(f"BYOL is valid until {day(expires_on)}")
    loads.assert_none()
    assert _licenses(customer) == [("Office 365 E3", "Yearly", expires_on)]


@pytest.fixture
def entered_license(customer, portal, pdf):
    """Office 365 E3 entered 100 days before it expires, with first-proof.pdf."""
    expires_on = portal.today() + timedelta(days=100)
    with db.database.connection_context():
        account = Account.get_by_id(customer.account_id)
        product = Product.get(Product.name == "MS Office 365")
        proof = store_upload(Upload(pdf, "application/pdf", "first-proof.pdf"), account, customer.id)
        terms = {"seats": 25, "term": "Yearly", "expires_on": expires_on, "tenant": "northwind.onmicrosoft.com",
                 "contact_name": "Pat Doe", "contact_email": "pat@northwind.example"}
        return add_license(account, customer.id, product, "Office 365 E3", terms, proof)


def test_update_renews_in_place_and_keeps_the_history(page, portal, customer, entered_license, log_in,
                                                      fill_license_form, watch_page_loads, pdf):
    first_expiry = entered_license.current.expires_on
    renewed_expiry = first_expiry + timedelta(days=365)
    renewal_pdf = pdf.replace(b"Proof of licensing", b"Renewed proof of it")
    assert renewal_pdf != pdf
    log_in(page, customer)
    row = page.locator("#license-table tbody tr", has_text="Office 365 E3")
    expect(row).to_contain_text(day(first_expiry))
    loads = watch_page_loads(page)

    row.get_by_role("link", name="Update").click()
    expect(page.get_by_role("heading", name="Update Office 365 E3")).to_be_visible()
    fill_license_form(page, renewed_expiry, plan=None, proof_name="renewal.pdf", proof=renewal_pdf)
    page.get_by_role("button", name="Save").click()

    expect(row).to_contain_text(day(renewed_expiry))
    expect(row).to_contain_text("renewal.pdf")
    expect(page.locator("#byol-status h2")).to_have_text(f"BYOL is valid until {day(renewed_expiry)}")
    expect(page.locator("#messages")).to_contain_text("The earlier proof is kept in its history.")
    loads.assert_none()

    row.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("MS Office 365: Office 365 E3")
    versions = page.locator("table.licenses tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text(day(renewed_expiry))
    expect(versions.nth(0)).to_contain_text("current")
    expect(versions.nth(1)).to_contain_text(day(first_expiry))
    for version, name, content in [(0, "renewal.pdf", renewal_pdf), (1, "first-proof.pdf", pdf)]:
        link = versions.nth(version).get_by_role("link", name=name)
        expect(link).to_be_visible()
        download = page.request.get(portal.url + link.get_attribute("href"))
        assert download.status == 200
        assert download.body() == content
        assert download.headers["content-disposition"].startswith("attachment")
    with db.database.connection_context():
        license = License.get_by_id(entered_license.id)
        assert [v.expires_on for v in history_of(license)] == [renewed_expiry, first_expiry]


def test_no_console_errors_or_csp_violations(page, portal, customer, entered_license, log_in):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    log_in(page, customer)
    page.get_by_role("link", name="Client Licenses").click()
    expect(page.locator("#license-table")).to_contain_text("Office 365 E3")
    # The tab was already open: let its boosted reload finish, or it lands on top of the form.
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Add License").click()
    expect(page.get_by_role("heading", name="Add License")).to_be_visible()
    page.get_by_role("link", name="Update").click()
    expect(page.get_by_role("heading", name="Update Office 365 E3")).to_be_visible()

    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("htmx.version").startswith("2.0.11")
    # The <meta name="htmx-config"> was read: no inline indicator styles (CSP), and 4xx form errors are swapped in.
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert {"code": "[2345]..", "swap": True} in page.evaluate("htmx.config.responseHandling")
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []

    # The listeners do catch a violation: an inline script is refused by the CSP.
    page.evaluate("document.body.appendChild(document.createElement('script')).textContent = 'window.__ran = 1'")
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in text for text in page.evaluate("window.__cspViolations"))


def test_narrow_screen_does_not_scroll_sideways(page, portal, customer, entered_license, log_in):
    page.set_viewport_size({"width": 420, "height": 900})
    log_in(page, customer)
    expect(page.locator("#license-table")).to_contain_text("Office 365 E3")
    # The table stacks one card per license on a narrow screen, so neither the page nor the table's own box
    # scrolls sideways, and Update (naming its plan) is on the screen.

    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    assert page.locator(".table-scroll").evaluate("box => box.scrollWidth <= box.clientWidth")
    update = page.get_by_role("link", name="Update Office 365 E3").bounding_box()
    assert 0 <= update["x"] and update["x"] + update["width"] <= 420


def test_no_old_success_message_above_errors_and_no_csp_violation_in_any_swap(page, portal, customer, log_in,
                                                                              fill_license_form):
    problems = watch_console(page)
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    fill_license_form(page, portal.today() + timedelta(days=200))
    page.get_by_role("button", name="Save").click()  # the panel swap, with the message out of band
    messages = page.locator("#messages")
    # The demo proof names none of the details entered: staff will check it.
    expect(messages).to_have_text(
        "Office 365 E3 was added. The document could not be checked against what you entered, as it does not "
        "show those details as text (a scan or a photo, for example): staff will check it. Until then it is "
        "awaiting review.")

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
    # Chromium logs every 4xx answer to a request; the refused form's 422 (docs/architecture.md) is that,
    # and only that.
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
