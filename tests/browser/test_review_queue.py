"""Staff reject a proof from the review queue; the customer then sees the reason and a prefilled Update form."""
from datetime import timedelta

import pytest
from helpers import log_in_staff, watch_console
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REASON = "The document shows another tenant."


def test_staff_reject_from_the_queue_and_the_customer_sees_the_reason_and_a_prefilled_form(
    page, browser, portal, customer, html_named_proof, staff_user, log_in, watch_page_loads  # noqa: F811
):
    problems = watch_console(page)
    log_in_staff(page, portal, staff_user)
    page.get_by_role("link", name="Proof to review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Proof to review")
    row = page.locator(f"#review-{html_named_proof.current_id}")
    expect(row).to_contain_text("Northwind Traders")
    expect(row).to_contain_text("northwind.onmicrosoft.com")
    loads = watch_page_loads(page)

    # Reject opens the reason; without one the error comes back at the row, the reason still open.
    row.locator("summary", has_text="Reject").click()
    row.get_by_role("button", name="Reject proof").click()
    expect(row.locator(".error-summary")).to_contain_text("Say why the proof is rejected")
    expect(row.get_by_label("Reason the customer will read")).to_be_visible()
    expect(row.get_by_label("Reason the customer will read")).to_be_focused()

    row.get_by_label("Reason the customer will read").fill(REASON)
    row.get_by_role("button", name="Reject proof").click()
    expect(row).to_contain_text("proof for Office 365 E3 rejected")
    expect(page.locator("#messages")).to_contain_text("Proof for Office 365 E3 rejected.")
    loads.assert_none()
    assert page.evaluate("window.__cspViolations") == []
    # Chromium logs every 4xx answer; the refused row's 422 (docs/architecture.md) is that, and only that.
    assert problems == ["Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"]

    context = browser.new_context()
    try:
        as_customer = context.new_page()
        log_in(as_customer, customer)
        expect(as_customer.locator(f"#license-{html_named_proof.id}")).to_contain_text(REASON)
        as_customer.locator(f"#license-{html_named_proof.id}").get_by_role("link", name="Update").click()
        expect(as_customer.locator("#rejection-reason")).to_contain_text(REASON)
        expires_on = portal.today() + timedelta(days=100)
        expect(as_customer.get_by_label("Number of licenses", exact=True)).to_have_value("25")
        expect(as_customer.get_by_label("Expiration date", exact=True)).to_have_value(expires_on.isoformat())
        expect(as_customer.get_by_label("Microsoft 365 tenant", exact=True)).to_have_value("northwind.onmicrosoft.com")
        expect(as_customer.get_by_label("Contact name", exact=True)).to_have_value("Pat Doe")
        expect(as_customer.get_by_label("Contact email", exact=True)).to_have_value("pat@northwind.example")
    finally:
        context.close()


def test_review_from_the_keyboard_with_a_count(page, portal, customer, staff_user, pdf):
    """Three proofs wait: A on the first row accepts it and the focus moves to the next row's Accept; R there opens
    the reason; the count says how many are left."""
    from helpers import insert_license
    from webapp.accounts.models import Account
    from webapp.extensions import db

    with db.database.connection_context():
        account = Account.get_by_id(customer.account_id)
    rows = [insert_license(account, plan=plan, expires_on=portal.today() + timedelta(days=100))
            for plan in ("Office 365 E1", "Office 365 E3", "Office 365 E5")]
    log_in_staff(page, portal, staff_user)
    page.goto(f"{portal.url}/admin/reviews")
    expect(page.locator("#queue-count")).to_have_text("3")
    expect(page.locator("#review-keys")).to_contain_text("press A to accept")
    first = page.locator(f"#review-{rows[0].current_id}")
    expect(first.locator("time")).to_contain_text("UTC")  # the submitted date with its time
    first.get_by_role("button", name="Accept").focus()
    page.keyboard.press("a")
    expect(first).to_contain_text("accepted")
    expect(page.locator("#queue-count")).to_have_text("2")
    second = page.locator(f"#review-{rows[1].current_id}")
    expect(second.get_by_role("button", name="Accept")).to_be_focused()
    page.keyboard.press("r")
    expect(second.get_by_label("Reason the customer will read")).to_be_focused()
    page.keyboard.type(REASON)
    second.get_by_role("button", name="Reject proof").click()
    expect(second).to_contain_text("rejected")
    expect(page.locator(f"#review-{rows[2].current_id}").get_by_role("button", name="Accept")).to_be_focused()
    expect(page.locator("#queue-count")).to_have_text("1")
