"""The confirm dialogs in a real browser: Remove a plan (customer) and Suspend account (staff), each
dismissed then accepted; and the same removal without JavaScript, through the confirmation page."""
from datetime import timedelta

import pytest
from helpers import log_in_staff, watch_console
from playwright.sync_api import expect

from webapp.accounts.models import Account
from webapp.extensions import db
from webapp.licenses.models import License, Product
from webapp.licenses.proofs import Upload, store_upload
from webapp.licenses.store import add_license

pytestmark = pytest.mark.browser


@pytest.fixture
def two_plans(customer, portal, pdf):
    """Office 365 E1 and E3 on the customer's account."""
    licenses = {}
    with db.database.connection_context():
        account = Account.get_by_id(customer.account_id)
        product = Product.get(Product.name == "MS Office 365")
        for plan, days in (("Office 365 E1", 200), ("Office 365 E3", 300)):
            proof = store_upload(Upload(pdf, "application/pdf", "proof.pdf"), account, customer.id)
            terms = {"seats": 5, "term": "Yearly", "expires_on": portal.today() + timedelta(days=days),
                     "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat Doe",
                     "contact_email": "pat@northwind.example"}
            licenses[plan] = add_license(account, customer.id, product, plan, terms, proof)
    return licenses


def retired_at(license):
    with db.database.connection_context():
        return License.get_by_id(license.id).retired_at


def test_remove_asks_in_a_dialog_dismissed_keeps_the_plan_accepted_removes_it(
    page, portal, customer, two_plans, log_in, watch_page_loads
):
    problems = watch_console(page)
    log_in(page, customer)
    e1 = two_plans["Office 365 E1"]
    row = page.locator(f"#license-{e1.id}")
    loads = watch_page_loads(page)
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("link", name="Remove").click()
    expect(row).to_be_visible()
    page.wait_for_timeout(300)  # a request the dismissal failed to stop would have landed by now
    assert dialogs and dialogs[0].startswith("Remove Office 365 E1? It stops counting toward your BYOL status")
    assert retired_at(e1) is None
    expect(row).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("link", name="Remove").click()
    expect(page.locator("#messages")).to_contain_text("Office 365 E1 was removed.")
    expect(page.locator(f"#license-{e1.id}")).to_have_count(0)
    expect(page.locator(f"#license-{two_plans['Office 365 E3'].id}")).to_be_visible()
    assert retired_at(e1) is not None
    loads.assert_none()  # htmx swapped the panel in place
    assert problems == [] and page.evaluate("window.__cspViolations") == []


def test_without_javascript_remove_goes_through_the_confirmation_page(browser, portal, customer, two_plans, log_in):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, customer)
        e1 = two_plans["Office 365 E1"]
        page.locator(f"#license-{e1.id}").get_by_role("link", name="Remove").click()
        expect(page.get_by_role("heading", name="Remove Office 365 E1?")).to_be_visible()
        assert retired_at(e1) is None

        page.get_by_role("link", name="Cancel, keep it").click()
        expect(page.locator(f"#license-{e1.id}")).to_be_visible()
        assert retired_at(e1) is None

        page.locator(f"#license-{e1.id}").get_by_role("link", name="Remove").click()
        page.get_by_role("button", name="Remove Office 365 E1").click()
        page.wait_for_url(f"{portal.url}/licenses")
        expect(page.locator("#messages")).to_contain_text("Office 365 E1 was removed.")
        expect(page.locator(f"#license-{e1.id}")).to_have_count(0)
        assert retired_at(e1) is not None
    finally:
        context.close()


def test_staff_suspend_asks_in_a_dialog(page, portal, customer, staff_user):  # noqa: F811
    problems = watch_console(page)
    log_in_staff(page, portal, staff_user)
    page.get_by_role("link", name="Northwind Traders").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Traders")

    def status():
        with db.database.connection_context():
            return Account.get_by_id(customer.account_id).status

    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Suspend account").click()
    page.wait_for_timeout(300)
    assert dialogs == [
        "Suspend Northwind Traders? Its users are signed out at once and cannot open the Onboarding Portal "
        "until it is reactivated. Its billing does not change."
    ]
    assert status() == Account.ACTIVE

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Suspend account").click()
    expect(page.locator("#messages")).to_contain_text("Northwind Traders is now suspended.")
    expect(page.get_by_role("button", name="Reactivate account")).to_be_visible()
    assert page.url == f"{portal.url}/admin/accounts/{customer.account_id}"
    assert status() == Account.SUSPENDED
    assert problems == [] and page.evaluate("window.__cspViolations") == []


def test_without_javascript_staff_suspend_goes_through_the_confirmation_page(browser, portal, customer, staff_user):  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        log_in_staff(page, portal, staff_user)
        page.goto(f"{portal.url}/admin/accounts/{customer.account_id}")
        page.get_by_role("button", name="Suspend account").click()
        expect(page.get_by_role("heading", name="Suspend Northwind Traders?")).to_be_visible()
        with db.database.connection_context():
            assert Account.get_by_id(customer.account_id).status == Account.ACTIVE
        page.get_by_role("button", name="Suspend account").click()
        expect(page.locator("#messages")).to_contain_text("Northwind Traders is now suspended.")
        with db.database.connection_context():
            assert Account.get_by_id(customer.account_id).status == Account.SUSPENDED
    finally:
        context.close()
