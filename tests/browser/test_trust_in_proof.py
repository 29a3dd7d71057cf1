"""The document check at the form and the review state, in a real browser (docs/domain.md, "Trust in
proof"): as a customer, save against a document that says otherwise and see *awaiting review*; as
staff, accept it; as the customer again, see *accepted*. And the form's other ways on, with
JavaScript (htmx swaps the form in place) and without (every step a page)."""
from datetime import timedelta

import pytest
from helpers import log_in_staff, watch_console
from playwright.sync_api import expect

from tests.licenses.test_proof_text import proof_pdf
from webapp.core.filters import day
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion

pytestmark = pytest.mark.browser
NOTE = "We moved from E5 to E3 in November; the order confirmation still shows E5."


@pytest.fixture
def page_without_js(browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def document(portal, **changes):
    """A proof PDF that says what fill_license_form enters, but for `changes`."""
    terms = {"plan": "Office 365 E3", "seats": 25, "tenant": "northwind.onmicrosoft.com",
             "expires": (portal.today() + timedelta(days=200)).strftime("%d %B %Y")}
    return proof_pdf(**(terms | changes))


def open_form(page, portal, javascript):
    if javascript:
        page.get_by_role("link", name="Add License").click()
        expect(page.locator("#license-form")).to_be_visible()
    else:
        page.goto(f"{portal.url}/licenses/new")


def save(page, javascript, button="Save"):
    if javascript:
        page.get_by_role("button", name=button, exact=True).click()
    else:
        with page.expect_navigation():
            page.get_by_role("button", name=button, exact=True).click()


def versions():
    with db.database.connection_context():
        return list(LicenseVersion.select().order_by(LicenseVersion.id))


def test_a_mismatch_saved_with_a_note_awaits_review_then_staff_accept_it(
        page, browser, portal, customer, staff_user, log_in, fill_license_form):
    problems = watch_console(page)
    expires_on = portal.today() + timedelta(days=200)
    log_in(page, customer)
    open_form(page, portal, javascript=True)
    fill_license_form(page, expires_on, proof=document(portal, plan="Office 365 E5"))
    save(page, javascript=True)

    differences = page.locator("#proof-differences")
    expect(differences).to_contain_text("The document says Office 365 E5; you entered Office 365 E3.")
    expect(differences).to_be_focused()
    expect(page.locator("#license-form")).to_contain_text("Kept from your last try: proof.pdf")
    assert versions() == []
    page.get_by_label("Note to staff").fill(NOTE)
    page.get_by_role("button", name="Save anyway with this note").click()

    row = page.locator("#license-table tbody tr", has_text="Office 365 E3")
    expect(row).to_contain_text(f"Proof awaiting review, submitted {day(portal.today())}")
    expect(row).to_contain_text("not counted until accepted")
    expect(page.locator("#byol-status h2")).to_have_text("BYOL has lapsed")
    expect(page.locator("#messages")).to_contain_text("counts toward BYOL only once staff accept it")
    (version,) = versions()

    staff_context = browser.new_context()
    try:
        as_staff = staff_context.new_page()
        log_in_staff(as_staff, portal, staff_user)
        as_staff.get_by_role("link", name="Proof to review").click()
        queued = as_staff.locator(f"#review-{version.id}")
        expect(queued).to_contain_text(NOTE)
        expect(queued).to_contain_text("document says Office 365 E5")
        queued.get_by_role("button", name="Accept").click()
        expect(as_staff.locator("#messages")).to_contain_text("Proof for Office 365 E3 accepted.")
    finally:
        staff_context.close()

    page.reload()
    row = page.locator("#license-table tbody tr", has_text="Office 365 E3")
    expect(row).to_contain_text("Proof accepted")
    expect(row.locator(".badge")).to_have_text("current")
    expect(page.locator("#byol-status h2")).to_have_text(f"BYOL is valid until {day(expires_on)}")
    assert page.evaluate("window.__cspViolations") == []
    # Chromium logs the form's 422 (the document says otherwise), and only that.
    assert set(problems) <= {"Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"}


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_correct_the_entry_after_a_mismatch(page, page_without_js, portal, customer, log_in, fill_license_form,
                                            javascript):
    page = page if javascript else page_without_js
    log_in(page, customer)
    open_form(page, portal, javascript)
    fill_license_form(page, portal.today() + timedelta(days=200), proof=document(portal, seats=30))
    save(page, javascript)
    expect(page.locator("#proof-differences")).to_contain_text(
        "The document says 30 licenses; you entered 25 licenses.")
    expect(page.locator("#seats-hint")).to_contain_text("The document says 30 licenses")
    page.get_by_label("Number of licenses", exact=True).fill("30")
    save(page, javascript)
    expect(page.locator("#messages")).to_contain_text("The document matches what you entered")
    (version,) = versions()
    assert version.seats == 30 and not version.saved_anyway


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_another_document_after_a_mismatch(page, page_without_js, portal, customer, log_in, fill_license_form,
                                           javascript):
    page = page if javascript else page_without_js
    log_in(page, customer)
    open_form(page, portal, javascript)
    fill_license_form(page, portal.today() + timedelta(days=200), proof=document(portal, tenant="contoso.onmicrosoft.com"))
    save(page, javascript)
    expect(page.locator("#proof-differences")).to_contain_text("The document says contoso.onmicrosoft.com")
    page.get_by_label("Proof of licensing", exact=True).set_input_files(
        {"name": "right.pdf", "mimeType": "application/pdf", "buffer": document(portal)})
    save(page, javascript)
    expect(page.locator("#license-table")).to_contain_text("right.pdf")
    (version,) = versions()
    assert not version.saved_anyway


def test_save_anyway_without_javascript_needs_the_note(page_without_js, portal, customer, log_in, fill_license_form):
    page = page_without_js
    log_in(page, customer)
    open_form(page, portal, javascript=False)
    fill_license_form(page, portal.today() + timedelta(days=200),
                      proof=document(portal, expires="31 December 2030"))
    save(page, javascript=False)
    expect(page.locator("#proof-differences")).to_contain_text("The document says 31 December 2030")
    save(page, javascript=False, button="Save anyway with this note")
    expect(page.locator("#staff_note-error")).to_contain_text("Write a note to staff")
    assert versions() == []
    page.get_by_label("Note to staff").fill(NOTE)
    save(page, javascript=False, button="Save anyway with this note")
    expect(page.locator("#license-table")).to_contain_text("Proof awaiting review")
    (version,) = versions()
    assert version.saved_anyway and version.customer_note == NOTE


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_a_scan_is_saved_with_a_line_that_staff_will_check_it(page, page_without_js, portal, customer, log_in,
                                                              fill_license_form, javascript):
    from tests.licenses.test_proof_text import SCANNED_PDF

    page = page if javascript else page_without_js
    log_in(page, customer)
    open_form(page, portal, javascript)
    fill_license_form(page, portal.today() + timedelta(days=200), proof=SCANNED_PDF)
    save(page, javascript)
    expect(page.locator("#messages")).to_contain_text("staff will check it")
    assert len(versions()) == 1
