"""The staff Audit log (filters, keyset pages, CSV export) and the customer's Activity page."""
import csv
import io
from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import count_queries

from webapp import audit
from webapp.audit import log as audit_log
from webapp.audit.models import AuditEntry
from webapp.extensions import db

HTMX = {"HX-Request": "true"}


def page_of(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def words(element):
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def rows_of(response, table_id):
    table = page_of(response).find(id=table_id)
    return [words(tr) for tr in table.find("tbody").find_all("tr") if "empty" not in (tr.get("class") or [])]


def entry(kind="account.suspended", account=None, at=None, actor_label="staff@provider.example", subject="",
          before=None, after=None, internal=False):
    """An entry as record() writes it, at a chosen time."""
    with db.database.connection_context():
        return audit.record(kind, account=account, subject=subject, before=before, after=after, internal=internal,
                            actor_label=actor_label, at=at)


@pytest.fixture
def two_accounts(make_account):
    return make_account("Northwind Traders"), make_account("Fabrikam")


# --- the staff Audit log -----------------------------------------------------------------------


def test_the_audit_log_shows_each_entry_newest_first_with_its_values(staff, two_accounts):
    northwind, fabrikam = two_accounts
    entry("account.suspended", northwind, datetime(2026, 3, 1, 9, 0), subject="Northwind Traders",
          before={"status": "active"}, after={"status": "suspended"})
    entry("signin.throttled", fabrikam, datetime(2026, 3, 2, 10, 30, 5), actor_label="anonymous",
          subject="kim@fabrikam.example", after={"paused_minutes": 15}, internal=True)

    response = staff.get("/admin/audit")

    assert response.status_code == 200
    page = page_of(response)
    assert page.find("nav", class_="tabs").find("a", string="Audit log")["aria-current"] == "page"
    assert "Time (UTC)" in words(page.find(id="audit-entries").find("thead"))
    newest, oldest = rows_of(response, "audit-entries")
    assert newest.startswith("2026-03-02 10:30:05 anonymous Fabrikam Sign-in throttled (staff only) kim@fabrikam.example")
    assert "paused minutes : 15" in newest  # a stored name reads as words
    assert oldest.startswith("2026-03-01 09:00:00 staff@provider.example Northwind Traders Account suspended")
    assert "status : active → suspended" in oldest


@pytest.mark.parametrize("query, expected", [
    ({"account": "north"}, ["Northwind kind"]),
    ({"account": "FABRIKAM"}, ["Fabrikam by cron", "Fabrikam kind"]),
    ({"actor": "cron"}, ["Fabrikam by cron"]),
    ({"kind": "proof.reviewed"}, ["Northwind kind"]),
    ({"since": "2026-03-02"}, ["Fabrikam by cron", "Fabrikam kind"]),
    ({"until": "2026-03-02"}, ["Fabrikam kind", "Northwind kind"]),
    ({"since": "2026-03-02", "until": "2026-03-02"}, ["Fabrikam kind"]),
    ({"account": "fabrikam", "kind": "account.suspended", "until": "2026-03-03"}, ["Fabrikam kind"]),
    ({"until": "9999-12-31"}, ["Fabrikam by cron", "Fabrikam kind", "Northwind kind"]),
])
def test_the_filters(staff, two_accounts, query, expected):
    northwind, fabrikam = two_accounts
    entry("proof.reviewed", northwind, datetime(2026, 3, 1, 23, 59, 59), subject="Northwind kind")
    entry("account.suspended", fabrikam, datetime(2026, 3, 2, 0, 0), subject="Fabrikam kind")
    entry("reminders.run", fabrikam, datetime(2026, 3, 3, 6, 0), actor_label="cron", subject="Fabrikam by cron")

    response = staff.get("/admin/audit", query_string=query)

    assert response.status_code == 200
    subjects = [td.get_text(strip=True) for td in page_of(response).select("#audit-entries tbody tr td:nth-of-type(5)")]
    assert subjects == expected
    # The export link carries the same filters.
    export = page_of(response).find("a", string="Export CSV")["href"]
    assert all(f"{name}=" in export for name in query)


@pytest.mark.parametrize("query, field, message", [
    ({"since": "2026-13-01"}, "since", "is not a date in the calendar"),
    ({"since": "2026-02-30"}, "since", "is not a date in the calendar"),
    ({"until": "yesterday"}, "until", "Give the date as YYYY-MM-DD"),
    ({"since": "1.3.2026"}, "since", "Give the date as YYYY-MM-DD"),
    ({"since": "2026-03-05", "until": "2026-03-01"}, "until", "The end date is before the start date"),
    ({"kind": "license.deleted"}, "kind", "Choose a kind from the list"),
    ({"account": "North\x00wind"}, "account", "invisible or control character (U+0000"),
    ({"actor": "staff\u202e@provider.example"}, "actor", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ({"account": "x" * 100_000}, "account", "at most 200 characters"),
    ({"before": "99999999999999999999"}, "before", "This page link is damaged"),
    ({"before": "-1"}, "before", "This page link is damaged"),
])
def test_a_filter_that_cannot_be_read_comes_back_422_at_its_field(staff, two_accounts, query, field, message):
    entry("account.suspended", two_accounts[0], subject="must not be listed")

    response = staff.get("/admin/audit", query_string=query)

    assert response.status_code == 422
    page = page_of(response)
    assert message in words(page.find(id=f"{field}-error"))
    if field != "before":
        assert page.find(id=field)["aria-describedby"] == f"{field}-error"
    assert "The filters could not be used" in words(page.find(class_="error-summary"))
    assert "must not be listed" not in response.get_data(as_text=True)
    assert page.find(id="audit-entries") is None


def test_pages_follow_each_other_without_gaps_in_a_constant_number_of_queries(staff, two_accounts):
    same_moment = datetime(2026, 3, 1, 12, 0)
    for n in range(audit_log.PAGE_SIZE * 2 + 7):
        # A few share a timestamp: the id breaks the tie, so none is skipped or shown twice.
        entry("account.suspended", two_accounts[n % 2], same_moment if n % 5 == 0 else same_moment + timedelta(minutes=n),
              subject=f"entry {n}")

    seen, path, queries_per_page = [], "/admin/audit?account=", []
    while path:
        with count_queries() as queries:
            response = staff.get(path)
        assert response.status_code == 200
        queries_per_page.append(len(queries))
        seen += [td.get_text(strip=True) for td in page_of(response).select("#audit-entries tbody tr td:nth-of-type(5)")]
        older = page_of(response).find("a", string="Older →")
        path = older["href"] if older else None

    assert len(queries_per_page) == 3
    assert len(set(queries_per_page)) == 1, queries_per_page
    assert sorted(seen) == sorted(f"entry {n}" for n in range(audit_log.PAGE_SIZE * 2 + 7))
    assert len(seen) == len(set(seen))
    with db.database.connection_context():
        newest_first = [e.subject for e in AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc())]
    assert seen == newest_first


def test_an_htmx_filter_gets_only_the_log_partial(staff, two_accounts):
    entry("account.suspended", two_accounts[0], subject="Northwind Traders")
    response = staff.get("/admin/audit?kind=account.suspended", headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert page_of(response).find(id="audit-log") is not None
    assert "HX-Request" in response.headers["Vary"]
    refused = staff.get("/admin/audit?since=nope", headers=HTMX)
    assert refused.status_code == 422 and "<html" not in refused.get_data(as_text=True)


def test_the_csv_export_streams_the_filtered_entries_spreadsheet_safe(staff, two_accounts, monkeypatch):
    northwind, fabrikam = two_accounts
    monkeypatch.setattr(audit_log, "EXPORT_CHUNK", 7)  # several chunks from a few entries
    for n in range(20):
        entry("account.suspended", northwind, datetime(2026, 3, 1) + timedelta(minutes=n), subject=f"entry {n}")
    entry("signin.failed", None, datetime(2026, 3, 1, 5), actor_label="anonymous",
          subject="unknown email: =HYPERLINK(\"http://evil.example\")", after={"step": "password"})
    entry("account.suspended", fabrikam, datetime(2026, 3, 1, 6), subject="-2+3", before={"status": "@active"})

    response = staff.get("/admin/audit.csv?account=northwind")

    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment; filename=audit-log-")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(audit_log.CSV_COLUMNS)
    assert [row[5] for row in rows[1:]] == [f"entry {n}" for n in reversed(range(20))]
    assert rows[1][:5] == ["2026-03-01 00:19:00", "staff@provider.example", "Northwind Traders",
                           "account.suspended", "Account suspended"]

    everything = list(csv.reader(io.StringIO(staff.get("/admin/audit.csv").get_data(as_text=True))))
    assert len(everything) == 1 + 22
    cells = {row[5]: row for row in everything[1:]}
    assert "'-2+3" in cells and cells["'-2+3"][6] == "status: @active"
    hostile = next(row for row in everything[1:] if "HYPERLINK" in row[5])
    assert hostile[5].startswith("unknown email: =HYPERLINK")  # not at the start of the cell: harmless
    for row in everything[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


def test_a_csv_export_with_a_bad_filter_is_422_and_says_why(staff):
    response = staff.get("/admin/audit.csv?since=2026-02-30")
    assert response.status_code == 422
    assert "is not a date in the calendar" in response.get_data(as_text=True)


def test_the_account_page_links_to_its_audit_log(staff, two_accounts):
    northwind, fabrikam = two_accounts
    entry("account.suspended", northwind, subject="Northwind Traders")
    entry("account.suspended", fabrikam, subject="Fabrikam")
    link = page_of(staff.get(f"/admin/accounts/{northwind.id}")).find("a", string="Audit log of this account")
    assert rows_of(staff.get(link["href"]), "audit-entries")[0].split()[-1] != "Fabrikam"
    assert len(rows_of(staff.get(link["href"]), "audit-entries")) == 1


def test_customers_cannot_open_the_audit_log(logged_in):
    assert logged_in.get("/admin/audit").status_code == 403
    assert logged_in.get("/admin/audit.csv").status_code == 403


# --- the customer's Activity --------------------------------------------------------------------


def test_activity_shows_the_own_account_only_without_internal_entries(app, logged_in, account, make_account, admin):
    other = make_account("Fabrikam")
    entry("license.added", account, datetime(2026, 3, 1, 9), actor_label="pat@northwind.example", subject="Office 365 E3",
          after={"seats": 25})
    with db.database.connection_context():
        audit.record("proof.reviewed", account=account.id, subject="Office 365 E3", actor=admin,
                     before={"review_status": "pending"}, after={"review_status": "rejected", "review_reason": "Blurry"})
    entry("reminders.run", account, datetime(2026, 3, 1, 6), actor_label="cron", subject="started")
    entry("signin.throttled", account, actor_label="anonymous", subject="pat@northwind.example",
          after={"address": "198.51.100.7"}, internal=True)
    entry("license.added", other, actor_label="kim@fabrikam.example", subject="Fabrikam's secret plan")
    entry("signin.failed", None, actor_label="anonymous", subject="unknown email: pat@northwind.example")

    response = logged_in.get("/activity")

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Fabrikam's secret plan" not in text
    assert "198.51.100.7" not in text and "Sign-in throttled" not in text
    assert "unknown email" not in text
    rows = rows_of(response, "activity-entries")
    assert len(rows) == 3
    assert "Example Hosting staff Proof reviewed Office 365 E3" in rows[0]
    assert "review : pending → rejected" in rows[0] and "reason given : Blurry" in rows[0]  # words, not column names
    assert admin.email not in text
    assert "pat@northwind.example License added Office 365 E3" in rows[1]
    assert "Example Hosting (daily reminders) Reminder run" in rows[2]


def test_the_client_licenses_tab_links_to_activity(logged_in):
    link = page_of(logged_in.get("/licenses")).find("a", string="Activity")
    assert link["href"] == "/activity"


def test_activity_pages_and_a_damaged_page_link_is_422(logged_in, account):
    for n in range(audit_log.PAGE_SIZE + 3):
        entry("license.updated", account, datetime(2026, 3, 1) + timedelta(minutes=n), subject=f"entry {n}")
    first = logged_in.get("/activity")
    older = page_of(first).find("a", string="Older →")
    second = logged_in.get(older["href"], headers=HTMX)
    assert second.status_code == 200 and "<html" not in second.get_data(as_text=True)
    assert len(rows_of(first, "activity-entries")) == audit_log.PAGE_SIZE
    assert [row.split()[-1] for row in rows_of(second, "activity-entries")] == ["2", "1", "0"]

    damaged = logged_in.get("/activity?before=1e99")
    assert damaged.status_code == 422 and "This page link is damaged" in damaged.get_data(as_text=True)


def test_activity_is_for_authorized_users_only(app, client, login, make_user, account):
    entry("license.added", account, subject="Office 365 E3")
    make_user("noauth@northwind.example", account=account, authorized=False)
    login(client, "noauth@northwind.example")
    refused = client.get("/activity")
    assert refused.status_code == 403 and "Office 365 E3" not in refused.get_data(as_text=True)
