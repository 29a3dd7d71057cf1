"""A license's row on the Client Licenses tab is kept between requests (webapp.core.fragments), keyed on
everything it shows: a row never reaches another account, and a change to any input shows at once."""
import re
from datetime import datetime, timedelta

import pytest
from helpers import insert_license, page_of, reject, renew_license

from config import TestConfig
from webapp import create_app
from webapp.accounts.models import Account
from webapp.core import fragments
from webapp.core.clock import utcnow
from webapp.extensions import cache, db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion
from webapp.reminders.models import Reminder, ReminderAttempt


def rows(response):
    """{row id: the row's text} of the license table."""
    return {tr["id"]: " ".join(tr.get_text(" ").split()) for tr in page_of(response).select("#license-table tbody tr[id]")}


def row_of(customer, license, htmx=False):
    response = customer.get("/licenses", headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 200
    return rows(response)[f"license-{license.id}"]


def cached_fragments(app):
    """The rendered fragments in the app's cache (cachelib's SimpleCache keeps them in a dict)."""
    with app.app_context():
        store = cache.cache
        return [store.get(key) for key in list(store._cache)]


def test_rows_are_rendered_once_then_served_from_the_cache_until_what_they_show_changes(
        app, customer, account, monkeypatch):
    """Russian-doll: the rows as a whole, and each row; one row's change renders that row and the whole."""
    license = insert_license(account, "Office 365 E3", contact=("Pat Doe", "pat@northwind.example"))
    other = insert_license(account, "Office 365 E1", contact=("Ann Lee", "ann@northwind.example"))
    first = row_of(customer, license)
    assert len(cached_fragments(app)) == 3  # the table's rows, and each row
    with app.app_context():
        store = cache.cache
    rendered = []
    keep = store.set
    monkeypatch.setattr(store, "set", lambda key, value, timeout=None: rendered.append(value) or keep(key, value, timeout))
    assert row_of(customer, license) == first and row_of(customer, license, htmx=True) == first
    assert rendered == []  # served from the cache, nothing rendered anew
    with db.database.connection_context():
        # No form or command changes a version's terms in place; whatever the row shows is in its key.
        LicenseVersion.update(contact_name="Changed In Place").where(LicenseVersion.id == license.current_id).execute()
    assert "Changed In Place" in row_of(customer, license)
    # The changed row and the whole were rendered again; the other row came from the cache.
    # (the changed row's cells, then the whole, which holds the other row as kept)
    assert [("Changed In Place" in fragment, "Ann Lee" in fragment) for fragment in rendered] == [
        (True, False), (True, True)]
    assert f'id="license-{other.id}"' in rendered[1]


def test_the_cached_part_holds_nothing_of_the_user_or_the_request(app, customer, account, user):
    insert_license(account, contact=("Sam Contact", "sam@northwind.example"))  # the contact is not the user
    page = customer.get("/licenses")
    token = page_of(page).find("meta", attrs={"name": "csrf-token"})
    fragments_kept = cached_fragments(app)
    assert fragments_kept
    for fragment in fragments_kept:
        assert user.email not in fragment
        assert "csrf" not in fragment.lower()
        if token is not None:
            assert token["content"] not in fragment


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx partial"])
def test_each_input_of_the_key_shows_at_once(app, customer, account, today, htmx):
    license = insert_license(account, "Office 365 E3", today + timedelta(days=31), seats=25)
    assert "25" in row_of(customer, license, htmx) and "current" in row_of(customer, license, htmx)

    # The business date: 31 days out is current today, expiring soon tomorrow.
    app.config["CLOCK"] = lambda: utcnow() + timedelta(days=1)
    assert "expiring soon" in row_of(customer, license, htmx)
    del app.config["CLOCK"]

    # The account's words for a removal: no longer its only license once another is added.
    def removal_question():
        return page_of(customer.get("/licenses")).select_one(f"#license-{license.id} a.remove")["hx-confirm"]

    assert "only license" in removal_question()
    insert_license(account, "Office 365 E1")
    assert "only license" not in removal_question()

    # A new current version (a renewal).
    license = renew_license(license, today + timedelta(days=400), seats=40)
    assert "40" in row_of(customer, license, htmx) and "renewed.pdf" in row_of(customer, license, htmx)

    # Its review state.
    reject(license, utcnow(), reason="The tenant is not on the proof")
    assert "proof rejected" in row_of(customer, license, htmx)
    assert "The tenant is not on the proof" in row_of(customer, license, htmx)

    # Its last reminder.
    with db.database.connection_context():
        reminder = Reminder.create(license=license.id, expires_on=today + timedelta(days=400), status=Reminder.SENT)
        ReminderAttempt.create(reminder=reminder, license=license.id, expires_on=reminder.expires_on,
                               recipient="it@northwind.example", attempted_at=datetime(2026, 3, 4, 9, 30),
                               outcome=ReminderAttempt.SENT)
    assert "to it@northwind.example" in row_of(customer, license, htmx)

    # Its plan, which staff may rename in place.
    with db.database.connection_context():
        license_store.rename_license(License.get_by_id(license.id), "Office 365 E5")
    assert "Office 365 E5" in row_of(customer, license, htmx)

    # A removal the customer asked for, awaiting staff.
    with db.database.connection_context():
        License.update(removal_requested_at=utcnow()).where(License.id == license.id).execute()
    assert "Removal awaiting confirmation" in row_of(customer, license, htmx)



def test_no_row_reaches_another_account_even_where_sqlite_gives_a_deleted_rows_ids_again(
        app, client, login, make_account, make_user, today):
    """Two accounts with the same plan, dates and submission time; the first one deleted, so SQLite hands
    its ids (account, license, version) to the second. The second's users see their own row."""
    submitted = datetime(2026, 1, 5, 12, 0)
    first = make_account("Northwind Traders")
    make_user("pat@northwind.example", account=first)
    insert_license(first, "Office 365 E3", today + timedelta(days=90), contact=("Pat Doe", "pat@northwind.example"),
                   submitted_at=submitted)
    login(client, "pat@northwind.example")
    assert "pat@northwind.example" in " ".join(rows(client.get("/licenses")).values())
    assert cached_fragments(app)
    client.post("/logout")
    with db.database.connection_context():
        Account.delete().where(Account.id == first.id).execute()

    second = make_account("Fabrikam")
    make_user("eve@fabrikam.example", account=second)
    license = insert_license(second, "Office 365 E3", today + timedelta(days=90),
                             contact=("Eve Example", "eve@fabrikam.example"), submitted_at=submitted)
    other = app.test_client()
    login(other, "eve@fabrikam.example")
    shown = rows(other.get("/licenses"))
    assert list(shown) == [f"license-{license.id}"]
    assert "eve@fabrikam.example" in shown[f"license-{license.id}"]
    assert "pat@northwind.example" not in shown[f"license-{license.id}"]


def test_two_accounts_interleaved_each_see_only_their_rows(app, client, login, make_account, make_user, today):
    clients = {}
    for name, email in (("Northwind Traders", "pat@northwind.example"), ("Fabrikam", "eve@fabrikam.example")):
        account = make_account(name)
        make_user(email, account=account)
        # The same plans, dates and seats in both: only the contact tells them apart.
        for plan in ("Office 365 E1", "Office 365 E3"):
            insert_license(account, plan, today + timedelta(days=60), contact=("Someone", email))
        clients[email] = app.test_client()
        login(clients[email], email)
    for _ in range(2):
        for email, customer in clients.items():
            shown = " ".join(rows(customer.get("/licenses")).values())
            assert shown.count(email) == 2
            assert not set(re.findall(r"[\w.]+@[\w.]+example", shown)) - {email}


def test_the_deployments_settings_and_code_are_in_every_key(app, customer, account, tmp_path):
    license = insert_license(account)
    with app.test_request_context():
        mine = fragments.fragment_key("row", 1)
    # A setting the row shows (the business time zone dates "submitted ..."; the provider's name is in
    # the Remove dialog), changed while the app runs, shows at the next request.
    app.config["PROVIDER_NAME"] = "Other Hosting"
    with app.test_request_context():
        assert fragments.fragment_key("row", 1) != mine
    assert "Other Hosting" in page_of(customer.get("/licenses")).select_one(f"#license-{license.id} a.remove")["hx-confirm"]
    # Code: any change to a template or module gives another fingerprint.
    (tmp_path / "row.html").write_text("<td>{{ plan }}</td>")
    first = fragments.fingerprint(app.config, roots=(tmp_path,))
    (tmp_path / "row.html").write_text("<td class=plan>{{ plan }}</td>")
    fragments.code_digest.cache_clear()
    assert fragments.fingerprint(app.config, roots=(tmp_path,)) != first


def test_fragment_caching_can_be_turned_off(app, login, make_account, make_user):
    off = create_app(TestConfig, DATABASE_URL=app.config["DATABASE_URL"], CACHE_TYPE="NullCache",
                     WTF_CSRF_ENABLED=False)
    account = make_account("Northwind Traders")
    make_user("pat@northwind.example", account=account)
    license = insert_license(account)
    customer = off.test_client()
    login(customer, "pat@northwind.example")
    assert "Pat Doe" in row_of(customer, license)
    with db.database.connection_context():
        LicenseVersion.update(contact_name="Changed In Place").where(LicenseVersion.id == license.current_id).execute()
    assert "Changed In Place" in row_of(customer, license)
