"""Every page a customer or staff member reads shows dates the one way people read them ("7 Dec 2026",
"7 Dec 2026, 16:01 UTC") and never a raw boolean. Machine forms stay where machines read them: CSV, the
API, and <time datetime> attributes, which the crawl does not read (it reads the text people see).

The crawl visits every GET page of the portal and the staff area (a new page without a visit fails
test_every_page_is_crawled), on an account with history: renewed, rejected, reviewed and removed plans,
user changes, a reminder run, so that Activity and the Audit log have every kind of value to show.
"""
import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from helpers import insert_license, reject, renew_license, send

from webapp.accounts import store as account_store
from webapp.accounts.models import User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{4}-(0[1-9]|1[0-2])\b|\d{2}:\d{2}:\d{2}")
# Python's or JSON's words for a value, standing alone as a value does ("authorized: False → True"), not
# the English word in a sentence ("None yet").
RAW_BOOLEAN = re.compile(r"(?:^|[:→(]\s*|\s)(True|False|None|null)(?=\s*(?:→|$|[.;,)]))")
# Pages that are not pages people read: downloads, feeds, JSON, redirects.
NOT_READ = {"portal.index", "portal.download_proof", "admin.download_proof", "admin.proof_preview",
            "admin.billing_csv", "admin.audit_csv"}


def people_text(html):
    """The words a person sees: text nodes, without scripts, styles or any attribute."""
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "template"]):
        hidden.decompose()
    return " ".join(soup.get_text(" ").split())


@pytest.fixture
def history(app, account, user, admin, today, runner):
    """An account with one of everything the history pages can show."""
    current = insert_license(account, expires_on=today + timedelta(days=20), user=user)
    renewed = insert_license(account, plan="Office 365 E1", expires_on=today + timedelta(days=3), user=user)
    renew_license(renewed, today + timedelta(days=200), seats=30, tenant="fabrikam.onmicrosoft.com")
    rejected = insert_license(account, plan="Office 365 E5", expires_on=today + timedelta(days=100))
    reject(rejected, utcnow())
    removed = insert_license(account, plan="Visio Plan 2", expires_on=today + timedelta(days=50))
    with app.test_request_context(), db.database.connection_context():
        license_store.retire_license(License.get_by_id(removed.id), User.get_by_id(user.id))
        account_store.set_enrollment(account.id, False, actor=admin.id)
        account_store.set_enrollment(account.id, True, actor=admin.id)
        account_store.set_authorization(user.id, True)
    send(runner, today)  # a reminder run: its entries carry a run date and times
    return {"license_id": current.id, "removed_id": removed.id, "account_id": account.id, "user_id": user.id}


CUSTOMER_PAGES = ["/licenses", "/licenses/new", "/licenses/{license_id}", "/licenses/{license_id}/update",
                  "/licenses/{license_id}/remove", "/activity", "/calendar", "/help", "/password/change"]
STAFF_PAGES = ["/admin/", "/admin/accounts/{account_id}", "/admin/licenses/{license_id}",
               "/admin/licenses/{removed_id}", "/admin/reviews", "/admin/billing", "/admin/audit",
               "/admin/audit?kind=reminders.run", "/two-factor",
               "/admin/accounts/{account_id}/status?status=suspended",
               "/admin/accounts/{account_id}/enrollment?enrollment=subscription",
               "/admin/users/{user_id}/authorization?authorization=unauthorized",
               "/admin/users/{user_id}/access?access=deactivated"]


def _crawl(client, paths, ids):
    for path in paths:
        response = client.get(path.format(**ids))
        assert response.status_code == 200, path
        yield path, people_text(response.get_data(as_text=True))


def test_no_page_shows_an_iso_date_or_a_raw_boolean(app, history, logged_in, staff):
    seen = list(_crawl(logged_in, CUSTOMER_PAGES, history)) + list(_crawl(staff, STAFF_PAGES, history))
    for path, text in seen:
        assert not ISO_DATE.search(text), f"{path} shows {ISO_DATE.search(text).group(0)!r}: {text[:3000]}"
        assert not RAW_BOOLEAN.search(text), f"{path} shows {RAW_BOOLEAN.search(text).group(0)!r}"
    # The crawl read history with dates and times in it, in the one format.
    activity = dict(seen)["/activity"]
    assert re.search(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC\b", activity)
    assert "removed Visio Plan 2 on" in activity


def test_the_check_catches_what_it_looks_for():
    assert ISO_DATE.search(people_text("<p>removed at (UTC): 2026-12-07T16:01:03.064932</p>"))
    assert ISO_DATE.search(people_text("<td>2027-01-01</td>")) and ISO_DATE.search(people_text("<h1>Billing 2026-12</h1>"))
    assert RAW_BOOLEAN.search(people_text("<li>authorized: False → True</li>"))
    assert RAW_BOOLEAN.search(people_text("<td>None</td>")) and not RAW_BOOLEAN.search(people_text("<td>None yet</td>"))
    assert not ISO_DATE.search(people_text('<time datetime="2026-12-07T16:01:00Z">7 Dec 2026, 16:01 UTC</time>'))


def test_every_page_is_crawled(app):
    adapter = app.url_map.bind("portal.test")
    ids = {"license_id": 1, "removed_id": 2, "account_id": 1, "user_id": 1}
    crawled = {adapter.match(path.split("?")[0].format(**ids), method="GET")[0] for path in CUSTOMER_PAGES + STAFF_PAGES}
    pages = {rule.endpoint for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and rule.endpoint.split(".")[0] in ("portal", "admin")}
    assert pages - crawled - NOT_READ == set()
