"""What the fast paths must not change: SQL built once (webapp.core.compiled_sql) serves every account
its own rows, the signed-in user it loads behaves as one read by Peewee, and row_url writes what url_for
writes."""
from datetime import date, datetime, timedelta
from typing import NamedTuple

import pytest
from conftest import PASSWORD, count_queries
from flask import url_for
from helpers import HTMX, insert_license, page_of
from peewee import SQL

from webapp import reminders
from webapp.accounts import directory
from webapp.accounts.models import Account, User
from webapp.core.compiled_sql import CompiledSelect, RowShape, placeholder, rows_of
from webapp.core.database import on_postgresql
from webapp.core.row_ids import MAX_ROW_ID
from webapp.core.row_urls import row_url
from webapp.extensions import db
from webapp.identity import sessions
from webapp.identity.models import LoginSession
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion


def plans_on(response):
    return [row.find("td", class_="plan").get_text() for row in page_of(response).find(id="license-table").find("tbody").find_all("tr")]


def test_two_accounts_interleaved_each_see_only_their_own_tab(app, account, make_account, make_user, login, today):
    """The statements are built once and shared; the rows never are, whatever the order of requests."""
    other = make_account("Fabrikam")
    ours, theirs = make_user("pat@northwind.example", account=account), make_user("eve@fabrikam.example", account=other)
    insert_license(account, "Northwind Plan", today + timedelta(days=300), contact=("Pat", "pat@northwind.example"))
    for n in range(3):
        insert_license(other, f"Fabrikam Plan {n}", today + timedelta(days=100 + n), contact=("Eve", "eve@fabrikam.example"))
    pat, eve = app.test_client(), app.test_client()
    login(pat, ours.email)
    login(eve, theirs.email)
    for headers in ({}, HTMX, {}, HTMX):
        for client, plans, name, foreign in (
            (pat, ["Northwind Plan"], "Northwind Traders", "Fabrikam"),
            (eve, ["Fabrikam Plan 0", "Fabrikam Plan 1", "Fabrikam Plan 2"], "Fabrikam", "Northwind"),
        ):
            response = client.get("/licenses", headers=headers)
            assert response.status_code == 200
            assert plans_on(response) == plans
            body = response.get_data(as_text=True)
            assert foreign not in body
            if not headers:
                assert name in page_of(response).find(class_="who").get_text()


def test_the_tab_shows_what_the_rows_hold(logged_in, account, today):
    """The light rows carry every value the table shows: rejected reason, contact, proof, links."""
    license = insert_license(account, "Office 365 E5", today + timedelta(days=10), seats=7, rejected="Wrong tenant",
                             proof_name="e5.pdf", contact=("Ada", "ada@northwind.example"))
    with db.database.connection_context():
        proof_id = LicenseVersion.get_by_id(license.current.id).proof_id
    row = page_of(logged_in.get("/licenses")).find(id=f"license-{license.id}")
    cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all("td")]
    assert cells[:7] == ["Office 365 E5", "MS Office 365", "7", "Yearly", _day(today + timedelta(days=10)),
                         "proof rejected Proof rejected: Wrong tenant", "Ada ada@northwind.example"]
    links = [a["href"] for a in row.find_all("a")]
    assert links == ["mailto:ada@northwind.example", f"/proofs/{proof_id}", f"/licenses/{license.id}/update",
                     f"/licenses/{license.id}", f"/licenses/{license.id}/remove"]
    update = row.find("a", href=f"/licenses/{license.id}/update")
    assert update["hx-get"] == update["href"]
    assert " ".join(update.get_text(" ").split()) == "Update Office 365 E5"


def _day(value):
    return f"{value.day} {value:%b %Y}"


def test_the_tab_still_makes_three_statements_for_the_fragment(logged_in, account, today):
    insert_license(account, "Plan A", today + timedelta(days=50))
    with count_queries() as fragment:
        assert logged_in.get("/licenses", headers=HTMX).status_code == 200
    with count_queries() as page:
        assert logged_in.get("/licenses").status_code == 200
    assert len(fragment) == 3, fragment  # the session, the licenses, their last reminders
    assert len(page) == 4, page  # and the Users panel


def test_licenses_of_is_scoped_to_the_account_and_keeps_the_models_shape(app, account, make_account, today):
    other = make_account("Fabrikam")
    ours = insert_license(account, "Ours", today + timedelta(days=5))
    insert_license(other, "Theirs", today + timedelta(days=1))
    with db.database.connection_context():
        rows = license_store.licenses_of(account.id)
        model = License.get_by_id(ours.id)
        version = LicenseVersion.get_by_id(model.current_id)
        assert license_store.licenses_of(other.id)[0].plan == "Theirs"
        assert license_store.licenses_of(MAX_ROW_ID) == []
    [row] = rows
    assert (row.id, row.account_id, row.plan, row.product.name) == (ours.id, account.id, "Ours", "MS Office 365")
    current = row.current
    assert (current.id, current.seats, current.expires_on, current.submitted_at, current.is_rejected) == (
        version.id, version.seats, version.expires_on, version.submitted_at, False)
    assert isinstance(current.expires_on, date)
    assert current.proof.id == version.proof_id and current.proof.original_name == "proof.pdf"


class _Named(NamedTuple):
    email: str
    is_authorized: bool


def test_a_compiled_select_fills_each_placeholder_and_refuses_unknown_ones(app, account, make_account):
    other = make_account("Fabrikam")
    names = CompiledSelect(RowShape(_Named, User.email, User.is_authorized), lambda: (
        User.select(User.email, User.is_authorized).where(
            (User.account == placeholder("account_id")) | (User.email == placeholder("email"))
        ).order_by(User.email)
    ))
    with db.database.connection_context():
        User.create(email="a@northwind.example", password_hash="x", account=account, is_authorized=True)
        User.create(email="b@fabrikam.example", password_hash="x", account=other)
        assert names.run(account_id=account.id, email="none") == [("a@northwind.example", True)]
        assert names.run(account_id=other.id, email="a@northwind.example") == [
            ("a@northwind.example", True), ("b@fabrikam.example", False)]
        with pytest.raises(KeyError):
            names.run(account_id=account.id)
        with pytest.raises(TypeError):
            names.run(account_id=account.id, email="x", extra=1)


class _Enrolled(NamedTuple):
    byol_enrolled: bool


class _Terms(NamedTuple):
    seats: int
    expires_on: date
    submitted_at: datetime
    reviewed_at: datetime
    review_status: str


class _LicenseTerms(NamedTuple):
    id: int
    account_id: int
    plan: str
    expires_on: date
    retired_at: datetime
    account: _Enrolled
    current: _Terms


_LICENSE_TERMS = RowShape(
    _LicenseTerms, License.id, License.account, License.plan, License.expires_on, License.retired_at,
    account=RowShape(_Enrolled, Account.byol_enrolled),
    current=RowShape(_Terms, LicenseVersion.seats, LicenseVersion.expires_on, LicenseVersion.submitted_at,
                     LicenseVersion.reviewed_at, LicenseVersion.review_status),
)


def _flat(row):
    """A row with its nested rows spread in place, as a flat tuple."""
    return tuple(value for field in row for value in (_flat(field) if isinstance(field, tuple) else (field,)))


def test_rows_of_gives_the_values_peewee_gives(app, account, today):
    """Dates, times, booleans, foreign keys and NULLs read straight from the cursor, as Peewee reads them;
    on SQLite also a date that is not one (left as it is) and timestamps with and without fractions."""
    insert_license(account, expires_on=today + timedelta(days=40), rejected="Blurry")
    insert_license(account, plan="Office 365 E1", expires_on=today + timedelta(days=400))
    with db.database.connection_context():
        if not on_postgresql():
            LicenseVersion.update(expires_on=SQL("'next spring'"), submitted_at=SQL("'2026-05-04 09:30:15'")).where(
                LicenseVersion.seats == 25).execute()
            LicenseVersion.update(reviewed_at=SQL("'2026-05-04 09:30:15.250000'")).where(
                LicenseVersion.reviewed_at.is_null(False)).execute()
        query = (
            License.select(License.id, License.account, License.plan, License.expires_on, License.retired_at,
                           Account.byol_enrolled, LicenseVersion.seats, LicenseVersion.expires_on,
                           LicenseVersion.submitted_at, LicenseVersion.reviewed_at, LicenseVersion.review_status)
            .join(LicenseVersion, on=(License.current == LicenseVersion.id))
            .switch(License).join(Account)
            .order_by(License.id)
        )
        expected = list(query.clone().tuples())
        assert len(expected) == 2 and expected[0][5] is True and expected[0][9] is not None
        assert [_flat(row) for row in rows_of(query, _LICENSE_TERMS)] == expected
        assert [type(value) for value in _flat(next(rows_of(query, _LICENSE_TERMS)))] == [type(v) for v in expected[0]]


def test_the_loaded_user_is_clean_so_saving_it_keeps_the_sessions(app, logged_in, user):
    """The loaded user has no field marked changed: saving another field must not look like a password change."""
    with app.test_request_context(), db.database.connection_context():
        config = app.config
        token = sessions.start_session(user)  # a second sign-in, beside the client's
        loaded = sessions.load_session_user(token, config["SESSION_IDLE_TIMEOUT"], config["SESSION_LIFETIME"])
        assert loaded.id == user.id and loaded.account.name == "Northwind Traders"
        assert loaded.check_password(PASSWORD)
        assert not loaded.dirty_fields
        loaded.name = "Pat Doe"
        loaded.save()
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 2
        assert User.get_by_id(user.id).name == "Pat Doe"
        assert User.get_by_id(user.id).check_password(PASSWORD)
        sessions.change_password(loaded, "a different long passphrase")
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 0


def test_a_staff_session_loads_without_an_account(app, admin):
    with app.test_request_context(), db.database.connection_context():
        token = sessions.start_session(admin)
        loaded = sessions.load_session_user(token, app.config["SESSION_IDLE_TIMEOUT"], app.config["SESSION_LIFETIME"])
        assert loaded.is_admin and loaded.account is None and loaded.account_id is None


def test_last_reminders_and_authorized_users_are_scoped(app, account, make_account, make_user):
    other = make_account("Fabrikam")
    make_user("zed@northwind.example", account=account, name="Zed")
    make_user("amy@northwind.example", account=account, name="Amy")
    make_user("eve@fabrikam.example", account=other, name="Eve")
    with db.database.connection_context():
        assert [u.name for u in directory.authorized_users_of(account.id)] == ["Amy", "Zed"]
        assert [u.email for u in directory.authorized_users_of(account.id, limit=0)] == ["amy@northwind.example"]
        assert [u.name for u in directory.authorized_users_of(other.id)] == ["Eve"]
        assert reminders.last_sent_reminders(account.id) == {}


@pytest.mark.parametrize("endpoint, name", [
    ("portal.update_license", "license_id"),
    ("portal.license_history", "license_id"),
    ("portal.download_proof", "document_id"),
    ("admin.account", "account_id"),
    ("admin.review_from_queue", "version_id"),
])
def test_row_url_writes_what_url_for_writes(app, endpoint, name):
    for script_root in ("", "/portal"):
        with app.test_request_context(base_url=f"http://portal.test{script_root}/"):  # PORTAL_URL's host
            for row_id in (1, 42, MAX_ROW_ID):
                assert row_url(endpoint, **{name: row_id}) == url_for(endpoint, **{name: row_id})
            with pytest.raises(ValueError):
                row_url(endpoint, **{name: "1/../2"})
