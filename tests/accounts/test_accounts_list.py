"""The staff accounts list at scale: filters, sorts, pages, bad parameters, htmx, and a constant number
of queries at 10 and at 10,000 accounts. The filters and sort keys are SQL forms of rules in
webapp.licenses.rules; a hypothesis test checks that SQL and Python agree on generated accounts."""
import re
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import count_queries
from helpers import insert_license, messages_of, reload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import SQL, DataError

from webapp.accounts import listing as account_list
from webapp.accounts.models import Account
from webapp.core.database import on_postgresql
from webapp.extensions import db
from webapp.licenses import rules as license_rules
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product, ProofDocument
from webapp.licenses.rules import (
    LicenseTerms,
    Status,
    byol_status,
    is_lapsed,
    license_status,
    standing_rank,
)

ACCEPTED, PENDING, REJECTED = LicenseVersion.ACCEPTED, LicenseVersion.PENDING, LicenseVersion.REJECTED


def page_of(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def text_of(response):
    return " ".join(page_of(response).get_text(" ").split())


def names(response):
    return [a.get_text() for a in page_of(response).select("#accounts tbody td:first-child a")]


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    assert login(client, admin.email).headers["Location"] == "/admin/"
    return client


def put_account(name, licenses=(), **fields):
    """An account and its licenses, written straight to the tables.

    Each license is (expires_on, review status), or a list of them: its versions, the last current.
    """
    with db.database.connection_context(), db.database.atomic():
        account_id = Account.insert(name=name, **fields).execute()
        _put_licenses(account_id, licenses)
        return account_id


def _put_licenses(account_id, licenses):
    if not licenses:
        return
    product = Product.get(Product.name == "MS Office 365").id
    proof = ProofDocument.insert(
        account=account_id, content=b"%PDF-1.4\n", sha256="0" * 64, size=9, original_name="proof.pdf",
        media_type="application/pdf",
    ).execute()
    for n, versions in enumerate(licenses):
        versions = versions if isinstance(versions, list) else [versions]
        license_id = License.insert(account=account_id, product=product, plan=f"Plan {n}", plan_key=f"plan {n}").execute()
        for expires_on, review in versions:
            version_id = LicenseVersion.insert(
                license=license_id, seats=5, term="Yearly", expires_on=expires_on, tenant="t.onmicrosoft.com",
                contact_name="Pat", contact_email="pat@example.com", proof=proof, review_status=review,
            ).execute()
        # As license_store does: the license keeps its current version's date, which the list's SQL reads.
        License.update(current=version_id, expires_on=expires_on, seats=5).where(License.id == license_id).execute()


def listed(staff, **params):
    response = staff.get("/admin/", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return names(response)


# --- Filters, on crafted data at the boundaries --------------------------------------------------


@pytest.fixture
def crafted(app, today):
    """Accounts at each boundary, named for what they hold."""
    day = timedelta(days=1)
    put_account("Expires in 30 days", [(today + 30 * day, ACCEPTED), (today + 300 * day, ACCEPTED)])
    put_account("Expires in 31 days", [(today + 31 * day, ACCEPTED)])
    put_account("Expires today", [(today, ACCEPTED)])
    put_account("Expired yesterday", [(today - day, ACCEPTED), (today + 300 * day, ACCEPTED)])
    put_account("Rejected proof", [(today + 200 * day, REJECTED)])
    put_account("Rejected, expiring in 10 days", [(today + 10 * day, REJECTED)])
    put_account("Awaiting review", [(today + 200 * day, PENDING)])
    put_account("Renewed after expiring", [[(today - 40 * day, ACCEPTED), (today + 200 * day, ACCEPTED)]])
    put_account("Expired, renewal pending", [[(today - 400 * day, ACCEPTED), (today - 5 * day, PENDING)]])
    put_account("No licenses")
    put_account("Not enrolled, expired", [(today - 3 * day, ACCEPTED)], byol_enrolled=False)
    put_account("Suspended, valid", [(today + 100 * day, ACCEPTED)], status=Account.SUSPENDED)


@pytest.mark.parametrize("filter_name, expected", [
    (account_list.LAPSED, ["Expired yesterday", "Expired, renewal pending", "Rejected proof",
                           "Rejected, expiring in 10 days"]),
    (account_list.EXPIRING, ["Expires in 30 days", "Expires today"]),
    (account_list.AWAITING_REVIEW, ["Awaiting review", "Expired, renewal pending"]),
    (account_list.SUSPENDED, ["Suspended, valid"]),
    (account_list.NOT_ENROLLED, ["Not enrolled, expired"]),
])
def test_each_filter_lists_exactly_its_accounts(staff, crafted, filter_name, expected):
    # Compared as sets: PostgreSQL's collation may order "Expired, r..." and "Expired y..." either way.
    assert sorted(listed(staff, filter=filter_name)) == expected


def test_the_lapsed_filter_matches_the_lapsed_badge(staff, crafted):
    rows = page_of(staff.get("/admin/", query_string={"filter": "lapsed"})).select("#accounts tbody tr")
    assert rows and all("lapsed" in row.get_text() for row in rows)
    others = page_of(staff.get("/admin/")).select("#accounts tbody tr")
    assert sum("lapsed" in row.get_text() for row in others) == len(rows)


def test_no_filter_lists_every_account_and_counts_them(staff, crafted):
    response = staff.get("/admin/")
    assert len(names(response)) == 12
    assert "12 accounts" in text_of(response)
    assert "12 accounts" not in text_of(staff.get("/admin/", query_string={"filter": "lapsed"}))


def test_a_filter_and_the_search_combine(staff, crafted):
    assert sorted(listed(staff, filter="lapsed", q="rejected")) == ["Rejected proof", "Rejected, expiring in 10 days"]
    response = staff.get("/admin/", query_string={"filter": "suspended", "q": "expired"})
    assert names(response) == []
    assert 'No accounts match "expired" under "Suspended"' in text_of(response)


# --- Sorting -------------------------------------------------------------------------------------


@pytest.fixture
def sortable(app, today):
    day = timedelta(days=1)
    put_account("Delta", [(today + 90 * day, ACCEPTED)])
    put_account("Alpha", [(today + 20 * day, ACCEPTED), (today + 400 * day, ACCEPTED)])
    put_account("Echo")
    put_account("Charlie", [(today - 2 * day, ACCEPTED)])
    put_account("Bravo", [(today + 90 * day, REJECTED)])
    put_account("Foxtrot", [(today + 20 * day, ACCEPTED)], byol_enrolled=False)
    put_account("Golf", [(today + 5 * day, ACCEPTED)])


@pytest.mark.parametrize("params, expected", [
    ({}, ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf"]),
    ({"sort": "name", "order": "desc"}, ["Golf", "Foxtrot", "Echo", "Delta", "Charlie", "Bravo", "Alpha"]),
    # Ties (the same earliest date) by name; no license on file comes last either way.
    ({"sort": "expiration"}, ["Charlie", "Golf", "Alpha", "Foxtrot", "Bravo", "Delta", "Echo"]),
    ({"sort": "expiration", "order": "desc"}, ["Bravo", "Delta", "Alpha", "Foxtrot", "Golf", "Charlie", "Echo"]),
    # Lapsed, no proof, valid, not enrolled; ties by name.
    ({"sort": "status"}, ["Bravo", "Charlie", "Echo", "Alpha", "Delta", "Golf", "Foxtrot"]),
    ({"sort": "status", "order": "desc"}, ["Foxtrot", "Alpha", "Delta", "Golf", "Echo", "Bravo", "Charlie"]),
])
def test_each_sort_in_both_directions(staff, sortable, params, expected):
    assert listed(staff, **params) == expected


def test_the_earliest_expiration_is_shown(staff, sortable, today):
    rows = {tr.find("a").get_text(): tr.find_all("td")[3].get_text() for tr in page_of(staff.get("/admin/")).select("#accounts tbody tr")}
    assert rows["Alpha"] == f"{today + timedelta(days=20):%-d %b %Y}"
    assert rows["Echo"] == "none on file"


def test_an_unreadable_date_shows_that_account_as_unknown_and_fails_nothing_else(staff, app, today):
    put_account("Fabrikam", [(today + timedelta(days=90), ACCEPTED)])
    broken = put_account("Contoso", [(today + timedelta(days=90), ACCEPTED), (today + timedelta(days=20), ACCEPTED)])
    # No form writes this; a manual UPDATE or a bad import into SQLite can. PostgreSQL's date column
    # refuses it, so there the only thing to check is that it cannot be stored.
    with db.database.connection_context():
        bad_date = LicenseVersion.update(expires_on=SQL("'next spring'")).where(LicenseVersion.license.in_(
            License.select(License.id).where((License.account == broken) & (License.plan == "Plan 0"))))
        if on_postgresql():
            with pytest.raises(DataError), db.database.atomic():
                bad_date.execute()
            return
        bad_date.execute()
    for params in ({}, {"sort": "expiration"}, {"sort": "status", "order": "desc"}, {"filter": "lapsed"},
                   {"filter": "expiring"}):
        response = staff.get("/admin/", query_string=params)
        assert response.status_code == 200, params
    rows = {tr.a.get_text(): " ".join(tr.get_text(" ").split()) for tr in page_of(staff.get("/admin/")).select("#accounts tbody tr")}
    assert "unknown" in rows["Contoso"] and "valid until" in rows["Fabrikam"]


def test_one_account_whose_standing_cannot_be_computed_does_not_fail_the_list(staff, account, make_account, caplog,
                                                                            monkeypatch):
    insert_license(account, expires_on=date(2099, 12, 31))
    broken = make_account("Fabrikam")
    insert_license(broken, expires_on=date(2099, 12, 31))
    with db.database.connection_context():
        # The database refuses a billing day outside 1..31 (migration 0023); a rule that fails on one
        # account's data (a day the rule cannot place) stands for any row the rules cannot read.
        Account.update(billing_day=29).where(Account.id == broken.id).execute()

    def cycle_start(year, month, billing_day):
        if billing_day == 29:
            raise ValueError("day is out of range for month")
        return original(year, month, billing_day)

    original = license_rules.cycle_start
    monkeypatch.setattr(license_rules, "cycle_start", cycle_start)

    listing = staff.get("/admin/")
    assert listing.status_code == 200
    rows = {tr.a.get_text(): " ".join(tr.get_text(" ").split()) for tr in page_of(listing).select("#accounts tbody tr")}
    assert "valid until 31 Dec 2099" in rows["Northwind Traders"]
    assert "unknown (this account's licenses could not be read; see the log)" in rows["Fabrikam"]
    assert f"The BYOL standing of account {broken.id} could not be computed" in caplog.text

    page = staff.get(f"/admin/accounts/{broken.id}")
    assert page.status_code == 200
    assert "Office 365 E3" in text_of(page)
    response = staff.post(f"/admin/accounts/{broken.id}/status", data={"status": "suspended"}, follow_redirects=True)
    assert messages_of(response) == "Fabrikam is now suspended."
    assert reload(Account, broken.id).status == Account.SUSPENDED


# --- Pages ---------------------------------------------------------------------------------------


def test_pages_walk_every_account_once_in_a_stable_order_with_the_settings_kept(staff, app, today):
    for n in range(120):
        # Few distinct dates: most of the order is decided by the tie-breaks.
        put_account(f"Account {n:03}", [(today + timedelta(days=n % 3), ACCEPTED)] if n % 4 else [])
    seen, href = [], "/admin/?sort=expiration&order=desc"
    for page in (1, 2, 3):
        response = staff.get(href)
        assert response.status_code == 200
        shown = names(response)
        assert len(shown) == (50 if page < 3 else 20)
        assert f"120 accounts, page {page} of 3" in text_of(response)
        seen += shown
        following = page_of(response).find("nav", class_="pager").find("a", string="Next →")
        if page == 3:
            assert following is None
        else:
            href = following["href"]
            assert href == f"/admin/?sort=expiration&order=desc&page={page + 1}"
            assert following["hx-get"] == href and following["hx-push-url"] == "true"
    assert sorted(seen) == sorted(f"Account {n:03}" for n in range(120))
    assert seen == listed(staff, sort="expiration", order="desc", page="1") + listed(
        staff, sort="expiration", order="desc", page="2") + listed(staff, sort="expiration", order="desc", page="3")
    with_licenses = [n for n in seen if int(n.split()[1]) % 4]
    assert seen[:len(with_licenses)] == with_licenses  # accounts with no date come last


def test_htmx_gets_the_list_alone_and_a_browser_the_page(staff, crafted):
    htmx = staff.get("/admin/", query_string={"filter": "lapsed"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and "HX-Request" in htmx.headers["Vary"]
    body = htmx.get_data(as_text=True)
    assert "<html" not in body and "Expiry timeline" not in body
    assert page_of(htmx).find(id="account-list") is not None and len(names(htmx)) == 4
    full = staff.get("/admin/", query_string={"filter": "lapsed"})
    assert "<html" in full.get_data(as_text=True) and "HX-Request" in full.headers["Vary"]
    form = page_of(full).find("form", class_="list-controls")
    assert form["method"] == "get" and form["action"] == "/admin/"  # works without JavaScript
    assert form["hx-get"] == "/admin/" and form["hx-target"] == "#account-list" and form["hx-push-url"] == "true"
    # A boosted request or a history restore needs the whole page.
    for headers in ({"HX-Request": "true", "HX-Boosted": "true"},
                    {"HX-Request": "true", "HX-History-Restore-Request": "true"}):
        assert "<html" in staff.get("/admin/", headers=headers).get_data(as_text=True)


# --- Bad parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("params, field, message", [
    ({"filter": "unknown"}, "filter", "Choose what to show from the list."),
    ({"filter": "lapsed\u202e"}, "filter", "Choose what to show from the list."),
    ({"filter": "lapsed\x00"}, "filter", "Choose what to show from the list."),
    ({"sort": "evil"}, "sort", "Choose a sort order from the list"),
    ({"sort": "name; DROP TABLE account"}, "sort", "Choose a sort order from the list"),
    ({"sort": ""}, "sort", "Choose a sort order from the list"),
    ({"order": "sideways"}, "order", "Choose ascending or descending"),
    ({"q": "North\x00wind"}, "q", "invisible or control character"),
    ({"q": "North\u202ewind"}, "q", "invisible or control character"),
    ({"q": "x" * 100_000}, "q", "200"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_setting_is_refused_at_its_field_and_nothing_listed(staff, crafted, params, field, message, htmx):
    response = staff.get("/admin/", query_string=params, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 422
    page = page_of(response)
    error = page.find(id=f"{field}-error")
    assert error is not None and message in error.get_text()
    assert page.find(id=field)["aria-describedby"] == f"{field}-error"
    assert names(response) == []
    assert "Nothing was listed: change what is marked above." in text_of(response)
    assert ("<html" in response.get_data(as_text=True)) is not htmx


@pytest.mark.parametrize("page_number", ["0", "-1", "abc", "1.5", "²", "١", "9" * 101, "1" * 100_000])
def test_a_bad_page_number_gets_a_message_and_the_first_page(staff, crafted, page_number):
    response = staff.get("/admin/", query_string={"page": page_number})
    assert response.status_code == 422
    assert "A page is a whole number from 1 up; the first page is shown." in page_of(response).find(id="page-error").get_text()
    assert names(response) == listed(staff)


@pytest.mark.parametrize("page_number", ["2", str(10**30), "9" * 100, str(2**63)])
def test_a_page_past_the_end_says_how_many_pages_there_are(staff, crafted, page_number):
    response = staff.get("/admin/", query_string={"page": page_number, "filter": "lapsed"})
    assert response.status_code == 200
    assert names(response) == []
    assert f"There is no page {page_number}: the list has 1 page. Go to page 1" in text_of(response)
    back = page_of(response).find("a", string="Go to page 1")["href"]
    assert back == "/admin/?filter=lapsed&page=1"
    assert len(names(staff.get(back))) == 4


def test_customers_and_visitors_get_no_list(app, logged_in, crafted):
    for params in ({}, {"filter": "lapsed", "sort": "status"}):
        response = logged_in.get("/admin/", query_string=params)
        assert response.status_code == 403 and "Rejected proof" not in response.get_data(as_text=True)
        response = app.test_client().get("/admin/", query_string=params)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- A constant number of queries at 10 and at 10,000 accounts -----------------------------------


def bulk_accounts(count, today, start=0):
    """`count` accounts, every other one with a license, in a few statements; even 10 of them hold a match
    for every filter (so both sizes list rows and take the same path)."""
    with db.database.connection_context(), db.database.atomic():
        first = Account.select(Account.id).order_by(Account.id.desc()).scalar() or 0
        ids = range(first + 1, first + count + 1)
        for batch in _batches([{"id": i, "name": f"Bulk {start + n:05}", "byol_enrolled": n % 7 != 0,
                                "status": Account.SUSPENDED if n % 11 == 0 else Account.ACTIVE}
                               for n, i in enumerate(ids)]):
            Account.insert_many(batch).execute()
        product = Product.get(Product.name == "MS Office 365").id
        proof = ProofDocument.insert(account=first + 1, content=b"%PDF-1.4\n", sha256="0" * 64, size=9,
                                     original_name="proof.pdf", media_type="application/pdf").execute()
        with_license = [i for i in ids if i % 2]

        def expires_on(i):
            return today + timedelta(days=i * 7 % 90 - 10)

        # Each license carries its current version's date, as license_store writes it.
        for batch in _batches([{"id": i, "account": i, "product": product, "plan": "Office 365 E3",
                                "plan_key": "office 365 e3", "expires_on": expires_on(i), "seats": 5}
                               for i in with_license]):
            License.insert_many(batch).execute()
        for batch in _batches([{"id": i, "license": i, "seats": 5, "term": "Yearly",
                                "expires_on": expires_on(i), "tenant": "t.onmicrosoft.com",
                                "contact_name": "Pat", "contact_email": "pat@example.com", "proof": proof,
                                "review_status": (ACCEPTED, PENDING, REJECTED)[i % 3]} for i in with_license]):
            LicenseVersion.insert_many(batch).execute()
        License.update(current=License.id).where(License.id.in_(with_license)).execute()
        if on_postgresql():
            for table in ("account", "license", "licenseversion"):
                db.database.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


def _batches(rows, size=500):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


LIST_SETTINGS = [
    {},
    {"filter": "lapsed", "sort": "status", "order": "desc"},
    {"filter": "expiring", "sort": "expiration"},
    {"filter": "awaiting-review", "page": "1"},
    {"filter": "suspended", "sort": "name", "order": "desc"},
    {"filter": "not-enrolled", "q": "bulk 0", "sort": "expiration", "order": "desc"},
]


def statements_of(staff, settings):
    """The SQL of the full page and of the htmx list for each setting, without the parameters (a page of 10
    accounts has fewer ids to look up licenses for than a page of 50: the same statement)."""
    shapes = []
    for params in settings:
        for headers in ({}, {"HX-Request": "true"}):
            with count_queries() as queries:
                response = staff.get("/admin/", query_string=params, headers=headers)
            assert response.status_code == 200
            shapes.append([re.sub(r"\((\?|%s)(, (\?|%s))*\)", "(...)", query.split("', [")[0]) for query in queries])
    return shapes


def test_the_same_queries_at_10_and_at_10_000_accounts(staff, app, today):
    bulk_accounts(10, today)
    few = statements_of(staff, LIST_SETTINGS)
    bulk_accounts(10_000, today, start=10)
    many = statements_of(staff, LIST_SETTINGS)
    assert [len(s) for s in few] == [len(s) for s in many]
    assert few == many
    full, partial = max(len(s) for s in many[::2]), max(len(s) for s in many[1::2])
    # The full page: the list's 6 and the staff home's 3 counts (proofs waiting, lapsed accounts, failed reminders).
    assert full <= 9 and partial <= 3, many
    response = staff.get("/admin/")
    assert len(names(response)) == 50 and "10,010 accounts, page 1 of 201" in text_of(response)
    last = staff.get("/admin/", query_string={"page": "201"})
    assert len(names(last)) == 10 and "Next →" not in text_of(last)
    # Any page with rows costs what the first does.
    assert statements_of(staff, [{"page": "2"}, {"page": "201"}]) == many[:2] * 2


# --- SQL and Python agree ------------------------------------------------------------------------

review_states = st.sampled_from([ACCEPTED, PENDING, REJECTED])
offsets = st.one_of(st.integers(-3, 3), st.integers(27, 33), st.integers(-400, 400))
license_specs = st.lists(st.tuples(offsets, review_states), min_size=1, max_size=3)  # versions, last current
account_specs = st.tuples(st.booleans(), st.booleans(), st.lists(license_specs, max_size=4))
todays = st.one_of(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.just(date(9999, 12, 15)), st.just(date(1, 1, 20)))


def _clamped(day, offset):
    try:
        return day + timedelta(days=offset)
    except OverflowError:
        return date.max if offset > 0 else date.min


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(today=todays, accounts=st.lists(account_specs, min_size=1, max_size=6))
def test_sql_and_python_agree_on_every_filter_and_sort_key(app, today, accounts):
    with db.database.connection_context():
        for model in (LicenseVersion, License, ProofDocument, Account):
            model.delete().execute()
    expected = {}
    for n, (enrolled, suspended, licenses) in enumerate(accounts):
        versions = [[(_clamped(today, offset), review) for offset, review in spec] for spec in licenses]
        account_id = put_account(f"Generated {n}", versions, byol_enrolled=enrolled,
                                 status=Account.SUSPENDED if suspended else Account.ACTIVE)
        current = [spec[-1] for spec in versions]
        byol = byol_status([LicenseTerms(f"Plan {i}", 5, expires_on, rejected=review == REJECTED)
                            for i, (expires_on, review) in enumerate(current)], today, billing_day=1, enrolled=enrolled)
        expected[account_id] = {
            account_list.LAPSED: is_lapsed(byol),
            account_list.EXPIRING: any(license_status(expires_on, today, review == REJECTED) is Status.EXPIRING_SOON
                                       for expires_on, review in current),
            account_list.AWAITING_REVIEW: any(review == PENDING for _, review in current),
            account_list.SUSPENDED: suspended,
            account_list.NOT_ENROLLED: not enrolled,
            account_list.REMINDER_FAILED: False,  # no reminders are generated here; test_staff_home covers it
            "rank": standing_rank(byol),
            "earliest": min((expires_on for expires_on, _ in current), default=None),
        }
    with db.database.connection_context():
        for name in account_list.FILTERS:
            matched = {a.id for a in Account.select(Account.id).where(account_list.filter_condition(name, today))}
            assert matched == {i for i, facts in expected.items() if facts[name]}, name
        keys = Account.select(Account.id, account_list.standing_rank(today).alias("rank"),
                              account_list.earliest_expiration().alias("earliest"))
        found = {a.id: {"rank": a.rank, "earliest": _as_date(a.earliest)} for a in keys}
    assert found == {i: {"rank": facts["rank"], "earliest": facts["earliest"]} for i, facts in expected.items()}


def _as_date(value):
    """SQLite gives a MIN() over dates back as text; PostgreSQL as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


# --- The list's roll-up in SQL and byol_status over every license agree --------------------------

# Plans whose order differs by code point and by a locale's collation (case, accents, digits), so a tie
# on the expiration date is broken as Python breaks it.
plan_names = st.sampled_from(["Office 365 E3", "office 365 E5", "Éclair", "Zeta", "e1", "Ω plan", "Office 365 E10"])
# Rejections around midnight in New York: the business date, not UTC's, is the lapse day.
rejection_moments = st.one_of(st.none(), st.datetimes(datetime(2025, 12, 31, 3), datetime(2026, 1, 2, 6)))
listed_license_specs = st.tuples(
    plan_names,
    st.integers(1, 500),  # seats
    # expiration, days from today: often the same few days, so ties between licenses are common
    st.one_of(st.sampled_from([-1, 0, 30, 31, 200]), st.integers(-60, 400)),
    review_states,
    rejection_moments,
    st.booleans(),  # removed by the customer
    st.booleans(),  # an earlier version (not current) exists, with other terms
    st.booleans(),  # saved anyway against its document (counts only once accepted)
    st.one_of(st.none(), st.datetimes(datetime(2025, 12, 31, 3), datetime(2026, 1, 2, 6))),  # removal asked
)
listed_account_specs = st.tuples(st.booleans(), st.integers(1, 31), st.lists(listed_license_specs, max_size=6))


def _put_listed_account(n, enrolled, billing_day, licenses, today, must_be_accepted):
    """An account with licenses as generated (plans made unique per account, as the form keeps them), and
    each license's LicenseTerms as the roll-up over every license reads them."""
    product = Product.get(Product.name == "MS Office 365").id
    account_id = Account.insert(name=f"Generated {n}", byol_enrolled=enrolled, billing_day=billing_day).execute()
    proof = ProofDocument.insert(account=account_id, content=b"%PDF-1.4\n", sha256="0" * 64, size=9,
                                 original_name="proof.pdf", media_type="application/pdf").execute()
    seen, current = set(), []
    for plan, seats, offset, review, reviewed_at, retired, earlier, saved_anyway, removal_asked in licenses:
        if plan.casefold() in seen:
            continue
        seen.add(plan.casefold())
        expires_on = _clamped(today, offset)
        license_id = License.insert(account=account_id, product=product, plan=plan, plan_key=plan.casefold(),
                                    retired_at=datetime(2026, 1, 1) if retired else None,
                                    removal_requested_at=removal_asked).execute()
        version = {"license": license_id, "term": "Yearly", "tenant": "t.onmicrosoft.com", "contact_name": "Pat",
                   "contact_email": "pat@example.com", "proof": proof}
        if earlier:  # an older version with other terms, which must not count
            LicenseVersion.insert(**version, seats=seats + 1000, expires_on=_clamped(today, -offset - 1),
                                  review_status=REJECTED, reviewed_at=datetime(2025, 1, 1)).execute()
        submitted_at = reviewed_at or datetime(2025, 12, 31, 23, 30)
        version_id = LicenseVersion.insert(**version, seats=seats, expires_on=expires_on, review_status=review,
                                           reviewed_at=reviewed_at if review != PENDING else None,
                                           saved_anyway=saved_anyway, submitted_at=submitted_at).execute()
        License.update(current=version_id, expires_on=expires_on, seats=seats).where(License.id == license_id).execute()
        if not retired:
            # As the roll-up over every license read them (the store's conversion, by the rules).
            current.append(license_store._terms(
                plan, seats, expires_on, review, reviewed_at if review != PENDING else None, TIMEZONE,
                saved_anyway=saved_anyway, submitted_at=submitted_at, must_be_accepted=must_be_accepted,
                removal_requested_at=removal_asked))
    return account_id, current


TIMEZONE = "America/New_York"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(today=st.one_of(st.dates(date(2025, 12, 1), date(2026, 2, 1)), todays),
       accounts=st.lists(listed_account_specs, min_size=1, max_size=5), must_be_accepted=st.booleans())
def test_the_lists_sql_roll_up_and_byol_status_agree(app, today, accounts, must_be_accepted):
    """The accounts list reads each account's totals and deciding licenses from SQL, and decides with
    byol_status over those; byol_status over all the account's licenses must give the same."""
    with db.database.connection_context():
        for model in (LicenseVersion, License, ProofDocument, Account):
            model.delete().execute()
        expected = {}
        with db.database.atomic():
            for n, (enrolled, billing_day, licenses) in enumerate(accounts):
                account_id, current = _put_listed_account(n, enrolled, billing_day, licenses, today,
                                                          must_be_accepted)
                expected[account_id] = (billing_day, enrolled, current)
        # One account id twice and one with no row: the statement's padding and an empty account.
        by_account = license_store.licenses_by_account([*expected, *expected, 10**9], TIMEZONE, must_be_accepted)
    assert set(by_account) == {i for i, (_, _, current) in expected.items() if current}
    for account_id, (billing_day, enrolled, current) in expected.items():
        licenses = by_account.get(account_id, license_store.no_licenses())
        whole = byol_status(current, today, billing_day, enrolled)
        listed = license_store.listed_standing(licenses, today, billing_day, enrolled)
        assert replace(listed, broken=listed.broken[:1]) == replace(whole, broken=whole.broken[:1])
        assert licenses.earliest == min((terms.expires_on for terms in current), default=None)
        assert licenses.licenses == len(current)


def test_more_accounts_than_one_statement_takes_are_read_in_batches(app, today):
    ids = [put_account(f"Account {n:03}", [(today + timedelta(days=n), ACCEPTED)])
           for n in range(license_store.ACCOUNTS_PER_QUERY + 3)]
    with db.database.connection_context(), count_queries() as queries:
        by_account = license_store.licenses_by_account(ids, TIMEZONE)
    assert len(queries) == 2
    assert {i: (licenses.licenses, licenses.earliest) for i, licenses in by_account.items()} == {
        i: (1, today + timedelta(days=n)) for n, i in enumerate(ids)
    }
