"""The customer's calendar feed: a secret URL (stored hashed, Regenerate invalidates it) serving each
license's expiration day and reminder day, parsed here with icalendar."""
import hashlib
import re
from datetime import date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from helpers import insert_license, renew_license
from icalendar import Calendar

from webapp.accounts.models import Account
from webapp.audit.models import AuditEntry
from webapp.calendar.models import CalendarFeed
from webapp.extensions import db


def make_feed(client):
    """Press Create/Regenerate on the Calendar feed page; returns the feed's path."""
    response = client.post("/calendar")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    url = BeautifulSoup(response.get_data(as_text=True), "html.parser").find(id="feed-url")["value"]
    assert url.startswith("http://portal.test/feeds/calendar/") and url.endswith(".ics")  # PORTAL_URL's
    return url.removeprefix("http://portal.test")


def events_of(response):
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    return {
        str(event["uid"]): (str(event["summary"]), event.decoded("dtstart"))
        for event in calendar.walk("VEVENT")
    }


def test_the_feed_holds_each_expiration_and_reminder_day_and_follows_a_renewal(app, logged_in, account, today):
    e3 = insert_license(account, expires_on=today + timedelta(days=100))
    e1 = insert_license(account, plan="Office 365 E1", expires_on=today + timedelta(days=10), seats=5)
    path = make_feed(logged_in)
    anonymous = app.test_client()

    events = events_of(anonymous.get(path))
    assert events == {
        f"license-{e3.id}-expires@portal.test": ("Office 365 E3 expires", today + timedelta(days=100)),
        f"license-{e3.id}-reminder@portal.test": ("Renew Office 365 E3: 30 days left", today + timedelta(days=70)),
        f"license-{e1.id}-expires@portal.test": ("Office 365 E1 expires", today + timedelta(days=10)),
        f"license-{e1.id}-reminder@portal.test": ("Renew Office 365 E1: 30 days left", today - timedelta(days=20)),
    }

    renew_license(e1, date(2031, 3, 31), submitted_at=datetime.utcnow(), seats=30)
    renewed = events_of(anonymous.get(path))
    assert renewed[f"license-{e1.id}-expires@portal.test"] == ("Office 365 E1 expires", date(2031, 3, 31))
    assert renewed[f"license-{e1.id}-reminder@portal.test"][1] == date(2031, 3, 1)
    assert len(renewed) == 4


def test_the_token_is_stored_only_as_its_hash_and_shown_once(app, logged_in, account):
    path = make_feed(logged_in)
    token = re.search(r"/feeds/calendar/(.+)\.ics$", path).group(1)
    assert len(token) >= 43
    with db.database.connection_context():
        (feed,) = CalendarFeed.select()
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest() and feed.account_id == account.id
    page = logged_in.get("/calendar").get_data(as_text=True)
    assert token not in page and "Regenerate feed URL" in page


def test_regenerate_invalidates_the_old_url(app, logged_in, account):
    insert_license(account)
    old = make_feed(logged_in)
    new = make_feed(logged_in)
    anonymous = app.test_client()
    assert anonymous.get(old).status_code == 404
    assert len(events_of(anonymous.get(new))) == 2
    with db.database.connection_context():
        assert CalendarFeed.select().count() == 1


def test_making_the_link_is_on_the_activity_page_without_the_link(app, logged_in, account, user):
    first = make_feed(logged_in)
    second = make_feed(logged_in)
    with db.database.connection_context():
        entries = list(AuditEntry.select().where(AuditEntry.kind == "calendar_feed.issued").order_by(AuditEntry.id))
    assert [(e.account_id, e.actor_id, e.actor_label) for e in entries] == [(account.id, user.id, user.email)] * 2
    assert "created" in entries[0].after and "replaced" in entries[1].after
    activity = logged_in.get("/activity").get_data(as_text=True)
    assert activity.count("Calendar link made") == 2
    for path in (first, second):
        token = re.search(r"/feeds/calendar/(.+)\.ics$", path).group(1)
        assert token not in activity and all(token not in (e.subject + e.before + e.after) for e in entries)


def test_an_accounts_feed_shows_only_its_own_licenses(app, logged_in, account, make_account, make_user, login):
    insert_license(account, plan="Northwind plan")
    other = make_account("Other Co")
    insert_license(other, plan="Other plan")
    make_user("kim@other.example", account=other)
    other_client = app.test_client()
    login(other_client, "kim@other.example")
    mine, theirs = make_feed(logged_in), make_feed(other_client)
    anonymous = app.test_client()
    assert {s for s, _ in events_of(anonymous.get(mine)).values()} == {"Northwind plan expires",
                                                                       "Renew Northwind plan: 30 days left"}
    assert "Northwind" not in anonymous.get(theirs).get_data(as_text=True)


def test_a_suspended_accounts_feed_is_closed(app, logged_in, account):
    path = make_feed(logged_in)
    with db.database.connection_context():
        Account.update(status=Account.SUSPENDED).where(Account.id == account.id).execute()
    assert app.test_client().get(path).status_code == 404


@pytest.mark.parametrize("token", ["x", "a" * 43, "a" * 5000, "%C3%A9t%C3%A9", "..%2F..%2Fetc", "%00"])
def test_a_made_up_token_gets_404(app, logged_in, account, token):
    make_feed(logged_in)
    assert app.test_client().get(f"/feeds/calendar/{token}.ics").status_code == 404


def test_the_tab_offers_the_calendar_feed(logged_in):
    page = BeautifulSoup(logged_in.get("/licenses").get_data(as_text=True), "html.parser")
    link = page.find("a", string="Calendar feed")
    assert link["href"] == "/calendar"
    assert "Create feed URL" in logged_in.get("/calendar").get_data(as_text=True)


# -- absolute links come from PORTAL_URL, never from the request (hostile audit, round three) -------


@pytest.mark.parametrize("headers", [
    {"Host": "portal.test:8443"},  # PORTAL_URL's host on another port: trusted, but not the portal's address
    {"Host": "portal.test", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443"},
])
def test_the_shown_feed_url_and_the_feeds_link_come_from_portal_url(app, database_url, logged_in, account, headers):
    from config import TestConfig
    from webapp import create_app

    insert_license(account)
    proxied = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, PROXY_COUNT=1)
    client = proxied.test_client()
    assert client.post("/login", data={"email": "pat@northwind.example", "password": "correct horse battery staple"},
                       headers=headers).status_code == 302
    shown = client.post("/calendar", headers=headers)
    url = BeautifulSoup(shown.get_data(as_text=True), "html.parser").find(id="feed-url")["value"]
    assert re.fullmatch(r"http://portal\.test/feeds/calendar/[A-Za-z0-9_-]+\.ics", url), url

    feed = client.get(url.removeprefix("http://portal.test"), headers=headers)
    calendar = Calendar.from_ical(feed.data)
    assert {str(event["url"]) for event in calendar.walk("VEVENT")} == {"http://portal.test/licenses"}


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example"},
    {"Host": "portal.test.evil.example"},
    {"X-Forwarded-Host": "portal.test, evil.example"},  # the proxy appended the host it was asked for
])
def test_a_request_for_another_host_is_refused_with_a_clear_400(app, database_url, headers):
    from config import TestConfig
    from webapp import create_app

    # Behind one proxy, whose X-Forwarded-Host is believed: still only the portal's host is served.
    proxied = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, PROXY_COUNT=1)
    for path in ("/login", "/feeds/calendar/" + "A" * 43 + ".ics", "/static/portal.css", "/nowhere"):
        response = proxied.test_client().get(path, headers=headers)
        assert response.status_code == 400, (path, response.status_code)
        text = response.get_data(as_text=True)
        assert "This portal answers only at" in text and 'href="http://portal.test"' in text
        assert "evil.example" not in text
