"""The proof size limit is enforced in the browser before a long upload starts (static/portal.js)."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.licenses.store import licenses_of

pytestmark = pytest.mark.browser

PORTAL_SETTINGS = {"UPLOAD_MAX_BYTES": 4096}


def test_too_large_proof_is_refused_in_the_browser(page, portal, customer, log_in, fill_license_form, pdf):
    too_large = pdf + b"%" * (5000 - len(pdf))
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    proof = page.get_by_label("Proof of licensing", exact=True)
    expect(page.locator(".field", has=proof)).to_contain_text("PDF, PNG or JPEG, at most 4 KB.")
    fill_license_form(page, portal.today() + timedelta(days=200), proof_name="big-scan.pdf", proof=too_large)

    message = page.locator("#proof-error")
    expect(message).to_be_visible()
    expect(message).to_have_text("The file big-scan.pdf is larger than 4 KB. Choose a smaller PDF, PNG or JPEG.")
    expect(proof).to_have_attribute("aria-invalid", "true")
    assert proof.evaluate("input => input.files.length") == 0

    proof.set_input_files({"name": "proof.pdf", "mimeType": "application/pdf", "buffer": pdf})
    expect(message).to_be_hidden()
    expect(proof).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#license-table tbody tr", has_text="Office 365 E3")).to_contain_text("proof.pdf")
    with db.database.connection_context():
        assert [lic.current.proof.original_name for lic in licenses_of(customer.account_id)] == ["proof.pdf"]


@pytest.fixture
def page_without_js(browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_too_large_without_javascript_says_so_with_a_way_back_to_the_form(
    page_without_js, portal, customer, log_in, fill_license_form, pdf
):
    page = page_without_js
    # Past the whole request's limit (UPLOAD_MAX_BYTES + 256 KB): refused before the form is read.
    too_large = pdf + b"%" * (300 * 1024)
    log_in(page, customer)
    page.get_by_role("link", name="Add License").click()
    page.wait_for_url(f"{portal.url}/licenses/new")
    fill_license_form(page, portal.today() + timedelta(days=200), proof_name="big-scan.pdf", proof=too_large)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save").click()
    assert navigation.value.status == 413
    expect(page.get_by_role("heading", name="The upload is too large")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("Proof documents may be at most 4 KB. Nothing was saved")

    page.get_by_role("link", name="Back to the form").click()
    page.wait_for_url(f"{portal.url}/licenses/new")
    expect(page.get_by_role("heading", name="Add License")).to_be_visible()
    with db.database.connection_context():
        assert licenses_of(customer.account_id) == []
