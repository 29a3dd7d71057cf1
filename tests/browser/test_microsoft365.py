"""Connect Microsoft 365 in a real browser: the tab's button, Microsoft's admin-consent page (the HTTPS
stand-in, tests/microsoft365/standin.py), the callback, the verdict on the license, and Disconnect."""
from datetime import date

import pytest
from playwright.sync_api import expect

from helpers import insert_license
from microsoft365.standin import StandIn, subscription

from webapp.accounts.models import Account
from webapp.extensions import db


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    server = StandIn(tmp_path_factory.mktemp("microsoft"))
    yield server
    server.close()


@pytest.fixture
def browser_context_args(browser_context_args):
    # The stand-in's certificate comes from a test CA Chromium does not know; the portal trusts it through
    # REQUESTS_CA_BUNDLE, as production trusts Microsoft's.
    return {**browser_context_args, "ignore_https_errors": True}


@pytest.fixture
def microsoft(portal, standin, monkeypatch):
    standin.microsoft.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", standin.ca_file)
    portal.app.config.update(
        PORTAL_URL=portal.url, M365_CLIENT_ID=standin.microsoft.client_id,
        M365_CLIENT_SECRET=standin.microsoft.client_secret, M365_LOGIN_URL=standin.login_url,
        M365_GRAPH_URL=standin.graph_url,
    )
    yield standin.microsoft
    portal.app.config.update(M365_CLIENT_ID="")


def test_a_customer_connects_sees_the_verdict_and_disconnects(page, portal, customer, log_in, microsoft):
    with db.database.connection_context():
        account = Account.get_by_id(customer.account_id)
    insert_license(account, plan="Office 365 E3", seats=25, expires_on=date(2027, 12, 31))
    insert_license(account, plan="Office 365 E5", seats=10, expires_on=date(2027, 12, 31))
    tenant = microsoft.add_tenant("Northwind", subscriptions=[
        subscription(total=25, renews="2027-12-31T23:59:59Z"),
        subscription("ENTERPRISEPREMIUM", 10, status="Warning", renews="2027-01-15T23:59:59Z"),
    ])
    microsoft.admin_of = tenant.id
    log_in(page, customer)
    with page.expect_navigation(url=f"{portal.url}/licenses"):
        page.get_by_role("link", name="Connect Microsoft 365").click()
    expect(page.locator("#messages")).to_contain_text("Microsoft 365 is connected: Northwind.")
    expect(page.get_by_role("heading", name="Microsoft 365 connected")).to_be_visible()
    rows = page.locator("#license-table tbody tr")
    expect(rows.filter(has_text="Office 365 E3")).to_contain_text("Verified with Microsoft 365 on")
    expect(rows.filter(has_text="Office 365 E5")).to_contain_text("Warning: expired, in grace period")

    page.get_by_role("link", name="Disconnect").click()
    page.get_by_role("button", name="Disconnect Microsoft 365").click()
    expect(page.locator("#messages")).to_contain_text("Microsoft 365 was disconnected")
    expect(page.get_by_role("link", name="Connect Microsoft 365")).to_be_visible()
    expect(rows.filter(has_text="Office 365 E3")).not_to_contain_text("Verified")


def test_a_declined_consent_comes_back_to_the_tab_with_microsofts_words(page, portal, customer, log_in, microsoft):
    microsoft.add_tenant("Northwind")
    microsoft.admin_of = None
    log_in(page, customer)
    with page.expect_navigation(url=f"{portal.url}/licenses"):
        page.get_by_role("link", name="Connect Microsoft 365").click()
    expect(page.locator("#messages")).to_contain_text("User declined to consent")
    expect(page.get_by_role("link", name="Connect Microsoft 365")).to_be_visible()
