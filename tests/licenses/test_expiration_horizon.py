"""The expiration horizon (LICENSE_MAX_YEARS_AHEAD): the Add License and Update forms refuse a date past
it, and a license that expires past it anyway (31 Dec 9999, written straight into the database) takes no
page down."""
from datetime import date, timedelta

import pytest
from helpers import insert_license, messages_of, page_of, reload, text_of

from webapp.accounts.models import Account
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion
from webapp.licenses.rules import years_ahead


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    login(client, admin.email)
    return client


def expiry_error(response):
    box = page_of(response).find(id="expires_on-error")
    return " ".join(box.get_text(" ").split()) if box else ""


def stored_plans(account):
    with db.database.connection_context():
        return [lic.plan for lic in License.select().where(License.account == account.id)]


def test_an_expiration_date_past_the_horizon_is_refused_with_a_message(logged_in, license_form, today, account):
    latest = years_ahead(today, 5)
    response = logged_in.post("/licenses", data=license_form(expires_on=(latest + timedelta(days=1)).isoformat()))
    assert response.status_code == 422
    assert expiry_error(response) == (
        f"This date is more than 5 years ahead; the latest accepted is {latest.day} {latest:%b %Y}. "
        "Check the expiration (renewal) date shown in Office 365."
    )
    assert stored_plans(account) == []

    response = logged_in.post("/licenses", data=license_form(expires_on="9999-12-31"))
    assert response.status_code == 422
    assert "more than 5 years ahead" in expiry_error(response)

    response = logged_in.post("/licenses", data=license_form(expires_on=latest.isoformat()))
    assert response.status_code == 302
    assert stored_plans(account) == ["Office 365 E3"]


def test_the_update_form_refuses_past_the_horizon_too(logged_in, license_form, today, account):
    license = insert_license(account, expires_on=today + timedelta(days=100))
    response = logged_in.post(
        f"/licenses/{license.id}/update", data=license_form(expires_on=date(9999, 12, 31).isoformat())
    )
    assert response.status_code == 422
    assert "more than 5 years ahead" in expiry_error(response)


def test_the_horizon_is_configurable_and_shown_to_the_date_picker(app, logged_in, license_form, today):
    app.config["LICENSE_MAX_YEARS_AHEAD"] = 1
    latest = years_ahead(today, 1)
    field = page_of(logged_in.get("/licenses/new")).find(id="expires_on")
    assert (field["min"], field["max"]) == (today.isoformat(), latest.isoformat())
    response = logged_in.post("/licenses", data=license_form(expires_on=(latest + timedelta(days=1)).isoformat()))
    assert response.status_code == 422
    assert "more than 1 years ahead" in expiry_error(response)


def _expire_at_the_end_of_the_calendar(license):
    with db.database.connection_context():
        LicenseVersion.update(expires_on=date(9999, 12, 31)).where(LicenseVersion.license == license.id).execute()


def test_a_license_expiring_in_december_9999_takes_no_page_down(app, logged_in, staff, account, make_account):
    license = insert_license(account, seats=25)
    _expire_at_the_end_of_the_calendar(license)
    other = make_account("Fabrikam")
    insert_license(other, expires_on=date(2099, 12, 31))

    tab = logged_in.get("/licenses")
    assert tab.status_code == 200
    standing = " ".join(page_of(tab).find(id="byol-status").get_text(" ").split())
    assert standing == ("BYOL is valid until 31 Dec 9999 1 of your licenses has its proof awaiting review by staff; "
                        "meanwhile it counts toward BYOL.")
    assert "31 Dec 9999" in text_of(logged_in.get(f"/licenses/{license.id}"))

    listing = staff.get("/admin/")
    assert listing.status_code == 200
    rows = {tr.a.get_text(): " ".join(tr.get_text(" ").split()) for tr in page_of(listing).select("#accounts tbody tr")}
    assert "valid until 31 Dec 9999" in rows["Northwind Traders"]
    assert "valid until 31 Dec 2099" in rows["Fabrikam"]

    page = staff.get(f"/admin/accounts/{account.id}")
    assert page.status_code == 200
    assert "31 Dec 9999" in text_of(page)
    assert staff.get(f"/admin/licenses/{license.id}").status_code == 200

    response = staff.post(f"/admin/accounts/{account.id}/status", data={"status": "suspended"}, follow_redirects=True)
    assert response.status_code == 200
    assert messages_of(response) == "Northwind Traders is now suspended."
    assert reload(Account, account.id).status == Account.SUSPENDED
