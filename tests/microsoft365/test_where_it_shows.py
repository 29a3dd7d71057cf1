"""Microsoft 365's verdict where people look: the customer's tab, the staff review queue, the staff license
and account pages, and the billing feed's `verified`."""
import csv
import io
from datetime import date

import pytest

from helpers import insert_license, page_of, text_of

from webapp.core.filters import day

from .standin import subscription


@pytest.fixture
def contoso(connect, microsoft):
    """The customer's account connected to a tenant with 25 Office 365 E3 until 31 Dec 2099 and a Business
    Standard trial."""
    tenant = microsoft.add_tenant("Contoso", subscriptions=[
        subscription(total=25, renews="2099-12-31T23:59:59Z"),
        subscription("O365_BUSINESS_PREMIUM", 5, renews="2099-12-31T23:59:59Z", trial=True),
    ])
    return tenant


def row_text(response, license):
    return text_of(page_of(response).find(id=f"license-{license.id}"))


def test_the_tab_marks_a_verified_license_and_shows_microsofts_figures_for_the_others(
        customer, account, contoso, connect, today):
    verified = insert_license(account, plan="Office 365 E3", seats=25, expires_on=date(2099, 12, 31))
    short = insert_license(account, plan="Microsoft 365 Business Standard", seats=10, expires_on=date(2099, 12, 31))
    connect(contoso)
    page = customer.get("/licenses")
    assert f"Verified with Microsoft 365 on {day(today)}" in row_text(page, verified)
    said = row_text(page, short)
    assert "Verified" not in said
    assert "trial" in said and "Microsoft 365 says 5 licenses" in said


def test_before_connecting_no_license_shows_a_microsoft_mark(customer, account, microsoft):
    license = insert_license(account)
    assert "Microsoft 365" not in row_text(customer.get("/licenses"), license)


def test_after_a_disconnect_the_marks_are_gone(customer, account, contoso, connect):
    license = insert_license(account, seats=25, expires_on=date(2099, 12, 31))
    connect(contoso)
    customer.post("/microsoft365/disconnect")
    assert "Verified" not in row_text(customer.get("/licenses"), license)
    assert "Connect Microsoft 365" in text_of(customer.get("/licenses"))


def test_staff_see_the_verdict_in_the_review_queue_and_on_the_license_page(staff, account, contoso, connect):
    license = insert_license(account, seats=30, expires_on=date(2099, 12, 31))
    connect(contoso)
    queue = text_of(staff.get("/admin/reviews"))
    assert "Microsoft 365 says 25 licenses" in queue
    license_page = staff.get(f"/admin/licenses/{license.id}")
    assert "Microsoft 365 says 25 licenses" in text_of(page_of(license_page).find(id="m365-verdict"))
    assert "the proof document remains the evidence that the plan is yearly" in text_of(license_page)


def test_staff_see_the_tenant_on_the_account_page(staff, account, contoso, connect):
    connect(contoso)
    said = text_of(page_of(staff.get(f"/admin/accounts/{account.id}")).find(id="m365-staff"))
    assert "connected" in said and contoso.id in said and "Contoso" in said


def test_staff_see_a_refused_claim_on_the_claiming_accounts_page(
        app, staff, contoso, connect, make_account, make_user, login):
    connect(contoso)
    other_account = make_account("Fabrikam Ltd")
    make_user("sam@fabrikam.example", account=other_account)
    other = app.test_client()
    login(other, "sam@fabrikam.example")
    connect(contoso, client=other)
    said = text_of(page_of(staff.get(f"/admin/accounts/{other_account.id}")).find(id="m365-staff"))
    assert "another account holds" in said and contoso.id in said


def test_the_billing_feed_says_verified_yes_no_or_nothing(staff, account, contoso, connect, make_account):
    insert_license(account, seats=25, expires_on=date(2099, 12, 31))
    connect(contoso)
    insert_license(make_account("Unconnected Ltd"))
    rows = {r["account"]: r["verified"] for r in csv.DictReader(io.StringIO(
        staff.get("/admin/billing.csv").get_data(as_text=True)))}
    assert rows == {"Northwind Traders": "yes", "Unconnected Ltd": ""}
    insert_license(account, plan="Office 365 E5", expires_on=date(2099, 12, 31))
    rows = {r["account"]: r["verified"] for r in csv.DictReader(io.StringIO(
        staff.get("/admin/billing.csv").get_data(as_text=True)))}
    assert rows["Northwind Traders"] == "no"
