"""In the browser, with CSRF on and the real CSP: the customer's calendar feed, the admin's billing
page with its CSV download, and the dashboard's expiry timeline."""
import csv
import io
from datetime import timedelta

import pytest
from conftest import PASSWORD
from helpers import create_user, insert_license
from icalendar import Calendar
from playwright.sync_api import expect

from webapp.accounts.models import Account
from webapp.extensions import db

pytestmark = pytest.mark.browser


def _console_errors(page):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_calendar_feed_create_read_and_regenerate(page, browser, portal, customer, log_in):
    with db.database.connection_context():
        insert_license(Account.get_by_id(customer.account_id), expires_on=portal.today() + timedelta(days=90))
    errors = _console_errors(page)
    log_in(page, customer)
    page.get_by_role("link", name="Calendar feed").click()
    expect(page.get_by_role("heading", name="Calendar feed")).to_be_visible()
    page.get_by_role("button", name="Create feed URL").click()
    first = page.get_by_label("Your feed URL").input_value()

    anonymous = browser.new_context()
    try:
        feed = anonymous.request.get(first)
        assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(feed.body()).walk("VEVENT")
        assert sorted(str(e["summary"]) for e in events) == ["Office 365 E3 expires", "Renew Office 365 E3: 30 days left"]

        # Copy puts the URL on the clipboard; Subscribe opens it as webcal://.
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.get_by_role("button", name="Copy URL").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == first
        webcal = page.get_by_role("link", name="Subscribe in your calendar app").get_attribute("href")
        assert webcal == "webcal://" + first.split("://", 1)[1]

        # Regenerate asks first; Cancel keeps the URL, the red button replaces it.
        page.get_by_role("link", name="Regenerate feed URL").click()
        expect(page.get_by_role("heading", name="Make a new feed URL?")).to_be_visible()
        page.get_by_role("link", name="Cancel, keep the URL I have").click()
        assert anonymous.request.get(first).status == 200
        page.get_by_role("link", name="Regenerate feed URL").click()
        page.get_by_role("button", name="Make a new feed URL").click()
        second = page.get_by_label("Your feed URL").input_value()
        assert second != first
        assert anonymous.request.get(first).status == 404
        assert anonymous.request.get(second).status == 200
    finally:
        anonymous.close()
    assert errors == []


def test_admin_filters_billing_downloads_csv_and_sees_the_timeline(page, portal, customer):
    with db.database.connection_context():
        northwind = Account.get_by_id(customer.account_id)
        insert_license(northwind, expires_on=portal.today() + timedelta(days=40))
        Account.create(name="=Formula Co")
    admin = create_user(portal.app, "staff@provider.example", admin=True, authorized=False)
    errors = _console_errors(page)
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill(admin.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal.url}/admin/")

    timeline = page.locator("#expiry-timeline svg")
    expect(timeline).to_be_visible()
    assert timeline.bounding_box()["height"] > 100
    expect(page.locator("#expiry-timeline table caption")).to_have_text(
        "Licenses expiring in the next 12 months, by account status")

    page.get_by_role("link", name="Billing").click()
    page.get_by_label("Mode").select_option("Subscription")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("#billing tbody tr[data-account-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("=Formula Co")
    expect(rows.first).to_contain_text("no license on file")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [(line["account"], line["mode"]) for line in lines] == [("'=Formula Co", "Subscription")]
    assert errors == []
