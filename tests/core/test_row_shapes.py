"""Rows named by their columns (compiled_sql.RowShape): every hot query's rows carry, name by name, the
values and types Peewee gives for the same query, and a row type and its query that disagree are
refused before any SQL runs."""
import sys
from datetime import date, datetime, timedelta
from typing import NamedTuple

import pytest
from conftest import count_queries
from helpers import insert_license, renew_license
from peewee import SQL, fn

from webapp.accounts import directory
from webapp.accounts.models import Account, User
from webapp.billing import report
from webapp.core.clock import utcnow
from webapp.core.compiled_sql import CompiledSelect, CompiledStatement, RowShape, rows_of
from webapp.core.database import on_postgresql
from webapp.extensions import db
from webapp.identity import sessions
from webapp.identity.models import LoginSession
from webapp.licenses import store as license_store
from webapp.licenses.document_text import Preview
from webapp.licenses.models import (
    License,
    LicenseVersion,
    Product,
    ProofCheck,
    ProofDocument,
)
from webapp.licenses.proofs import keep_preview
from webapp.reminders import _history as history
from webapp.reminders.models import Reminder, ReminderAttempt
from webapp.review import store as review_store

# Every CompiledSelect of the portal, with the module whose `placeholder` its query calls.
COMPILED = {
    "licenses_of": (license_store, license_store._LICENSE_ROWS),
    "review_queue": (review_store, review_store._REVIEW_QUEUE),
    "queued_version": (review_store, review_store._QUEUED),
    "session_user": (sessions, sessions._SESSION_USER),
    "authorized_users": (directory, directory._AUTHORIZED_USERS),
    "last_sent_reminders": (history, history._LAST_SENT),
}
# The shapes of the queries read with rows_of.
READ_WITH_ROWS_OF = {
    "terms_by_account": license_store._TERMS_ROW,
    "billing_accounts_with_versions": report._ACCOUNT_VERSION,
    "removals_awaiting": review_store._AWAITING_REMOVAL,
}
# Compiled statements whose rows are read by their module, each with its test here.
READ_BY_HAND = {"licenses_by_account": license_store._DECIDING}
SHAPES = {**{name: compiled.shape for name, (_, compiled) in COMPILED.items()}, **READ_WITH_ROWS_OF}


# --- comparing with Peewee ------------------------------------------------------------------------

def _leaves(shape, path=()):
    """(names, column) for each column of a shape, a nested row's by its path: ("current", "proof", "id")."""
    for name, column in shape.own.items():
        yield (*path, name), column
    for name, nested in shape.nested.items():
        yield from _leaves(nested, (*path, name))


def _by_name(row, shape):
    """{"current.proof.id": (value, its type)} for a named row; a nested row that is None gives None."""
    values = {}
    for path, _ in _leaves(shape):
        value = row
        for name in path:
            value = None if value is None else getattr(value, name)
        values[".".join(path)] = (value, type(value))
    return values


def _peewee_by_name(query, shape):
    """The same, for each row Peewee reads for `query` (its own conversion), each column found by identity."""
    position = {id(column): index for index, column in enumerate(query.selected_columns)}
    return [
        {".".join(path): (values[position[id(column)]], type(values[position[id(column)]]))
         for path, column in _leaves(shape)}
        for values in query.clone().tuples()
    ]


def assert_named_as_peewee_reads(rows, query, shape, ordered=True):
    for row in rows:
        assert isinstance(row, shape.type)
    got, expected = [_by_name(row, shape) for row in rows], _peewee_by_name(query, shape)
    if not ordered:  # a query without an ORDER BY, or with ties
        got, expected = sorted(got, key=repr), sorted(expected, key=repr)
    assert got == expected
    return got


def peewee_query(monkeypatch, name, **values):
    """A compiled query as Peewee itself runs it: built again with `values` where its placeholders are."""
    module, compiled = COMPILED[name]
    with monkeypatch.context() as patch:
        if values:
            patch.setattr(module, "placeholder", values.__getitem__)
        return compiled.build()


# --- the data: every kind of value the rows carry -------------------------------------------------

@pytest.fixture
def rows_data(app, account, make_account, make_user, today):
    """Two accounts with licenses (rejected, pending, renewed, removed, one without a document check), one
    without any, users with and without names, sent and failed reminders, a customer's and a staff session."""
    pat = make_user("pat@northwind.example", account=account, name="Pat")
    make_user("ann@northwind.example", account=account)  # no name
    make_user("bob@northwind.example", account=account, name="Bob", authorized=False)
    admin = make_user("staff@provider.example", admin=True)
    other = make_account("Fabrikam", billing_day=31, byol_enrolled=False)
    make_account("Datum Corporation")
    rejected = insert_license(account, "Office 365 E3", today + timedelta(days=40), rejected="Blurry", seats=7)
    unchecked = insert_license(account, "Office 365 E1", today + timedelta(days=400), proof_name="e1.pdf")
    renewed = renew_license(insert_license(account, "Office 365 E5", today + timedelta(days=5)),
                            today + timedelta(days=370), seats=12)
    removed = insert_license(account, "Office 365 F3", today + timedelta(days=90))
    insert_license(other, "Office 365 E3", today + timedelta(days=60), contact=("Eve", "eve@fabrikam.example"))
    with db.database.connection_context():
        ProofCheck.delete().where(ProofCheck.version == unchecked.current_id).execute()
        license_store.retire_license(License.get_by_id(removed.id), None)
        reminder = Reminder.create(license=rejected.id, expires_on=today + timedelta(days=40), status=Reminder.SENT)
        for hours, outcome, recipient in ((30, ReminderAttempt.SENT, "old@northwind.example"),
                                          (2, ReminderAttempt.SENT, "pat@northwind.example"),
                                          (1, ReminderAttempt.FAILED, "bounce@northwind.example")):
            ReminderAttempt.create(reminder=reminder, license=rejected.id, expires_on=reminder.expires_on,
                                   recipient=recipient, attempted_at=utcnow() - timedelta(hours=hours), outcome=outcome)
        if not on_postgresql():
            # What SQLite may hold: a timestamp without fractions, one with, and a date that is not one.
            LicenseVersion.update(submitted_at=SQL("'2026-05-04 09:30:15'")).where(
                LicenseVersion.id == unchecked.current_id).execute()
            LicenseVersion.update(reviewed_at=SQL("'2026-05-04 09:30:15.250000'")).where(
                LicenseVersion.id == rejected.current_id).execute()
            LicenseVersion.update(expires_on=SQL("'next spring'")).where(
                LicenseVersion.id == renewed.current_id).execute()
        customer_token = sessions.start_session(pat, "203.0.113.7", "Firefox")
        staff_token = sessions.start_session(admin)
        LoginSession.update(second_factor_at=utcnow(), pending_totp_secret="JBSWY3DPEHPK3PXP").where(
            LoginSession.user == admin.id).execute()
    return {"account": account, "other": other, "pat": pat, "admin": admin, "tokens": (customer_token, staff_token)}


# --- each compiled query against Peewee's reading of it -------------------------------------------

def test_licenses_of_rows_carry_what_peewee_reads(rows_data, monkeypatch):
    account = rows_data["account"]
    with db.database.connection_context():
        rows = license_store.licenses_of(account.id)
        query = peewee_query(monkeypatch, "licenses_of", account_id=account.id)
        named = assert_named_as_peewee_reads(rows, query, license_store._LICENSE_ROW)
    by_plan = {row.plan: row for row in rows}
    named = {row.plan: values for row, values in zip(rows, named)}
    assert sorted(by_plan) == ["Office 365 E1", "Office 365 E3", "Office 365 E5"]  # not the removed F3
    assert {type(row.current.submitted_at) for row in rows} == {datetime}
    assert named["Office 365 E3"]["current.reviewed_at"][1] is datetime
    assert named["Office 365 E1"]["current.reviewed_at"] == (None, type(None))
    assert named["Office 365 E1"]["current.proof.original_name"] == ("e1.pdf", str)
    rejected = by_plan["Office 365 E3"]
    assert rejected.account_id == account.id and rejected.product.name == "MS Office 365"
    assert rejected.current.is_rejected and rejected.current.review_reason == "Blurry"
    assert type(rejected.current.expires_on) is date and rejected.current.seats == 7


def test_review_queue_rows_carry_what_peewee_reads(rows_data, monkeypatch):
    with db.database.connection_context():
        rows = review_store.review_queue()
        named = assert_named_as_peewee_reads(rows, peewee_query(monkeypatch, "review_queue"),
                                             review_store._QUEUED_VERSION)
    assert sorted(row.license.plan for row in rows) == ["Office 365 E1", "Office 365 E3", "Office 365 E5"]
    by_plan = {row.license.account.name + " " + row.license.plan: row for row in rows}
    assert set(by_plan) == {"Northwind Traders Office 365 E1", "Northwind Traders Office 365 E5",
                            "Fabrikam Office 365 E3"}
    assert by_plan["Northwind Traders Office 365 E1"].check is None
    checked = by_plan["Fabrikam Office 365 E3"]
    assert checked.check.id is not None and isinstance(checked.check.plan_seen, str)
    assert {row["proof_id"][1] for row in named} == {int}



def test_a_queued_version_carries_what_peewee_reads_with_its_preview_and_active_content(rows_data, monkeypatch):
    with db.database.connection_context():
        versions = [row.id for row in review_store.review_queue()]
        e5 = License.get(License.plan == "Office 365 E5").current
        keep_preview(e5.proof_id, Preview(b"\x89PNG...", "image/png", 1000, 1294))
        ProofDocument.update(active_content="javascript").where(ProofDocument.id == e5.proof_id).execute()
        for version_id in versions:
            rows = [review_store.queued_version(version_id)]
            assert_named_as_peewee_reads(rows, peewee_query(monkeypatch, "queued_version", version_id=version_id),
                                         review_store._QUEUED_VERSION)
            if version_id == e5.id:
                assert rows[0].preview == (e5.proof_id, "image/png", 1000, 1294)
                assert rows[0].active_content == "javascript"
            else:
                assert rows[0].preview is None and rows[0].active_content == ""
        assert review_store.queued_version(2**31 - 1) is None


def test_the_session_user_carries_what_peewee_reads(rows_data, monkeypatch, app):
    config = app.config
    now = utcnow()
    for user, token in ((rows_data["pat"], rows_data["tokens"][0]), (rows_data["admin"], rows_data["tokens"][1])):
        with app.test_request_context(), db.database.connection_context():
            digest = LoginSession.get(LoginSession.user == user.id).id
            values = {"digest": digest, "seen_after": now - config["SESSION_IDLE_TIMEOUT"],
                      "created_after": now - config["SESSION_LIFETIME"]}
            [row] = sessions._SESSION_USER.run(**values)
            assert_named_as_peewee_reads([row], peewee_query(monkeypatch, "session_user", **values), sessions._SIGN_IN)
            # The user (and account) are the models Peewee reads by id, with nothing marked changed.
            assert row.user.__data__ == User.get_by_id(user.id).__data__ and not row.user.dirty_fields
            if user.account_id is None:
                assert row.user.account is None
                assert isinstance(row.second_factor_at, datetime) and row.pending_totp_secret == "JBSWY3DPEHPK3PXP"
            else:
                assert row.user.account.__data__ == Account.get_by_id(user.account_id).__data__
                assert not row.user.account.dirty_fields
                assert row.second_factor_at is None and row.pending_totp_secret is None
            loaded = sessions.load_session_user(token, config["SESSION_IDLE_TIMEOUT"], config["SESSION_LIFETIME"])
            assert loaded.__data__ == row.user.__data__ and loaded.second_factor_at == row.second_factor_at


def test_authorized_users_carry_what_peewee_reads(rows_data, monkeypatch):
    account = rows_data["account"]
    with db.database.connection_context():
        for limit in (1, 3):
            rows = directory.authorized_users_of(account.id, limit=limit)
            query = peewee_query(monkeypatch, "authorized_users", account_id=account.id, limit=limit + 1)
            assert_named_as_peewee_reads(rows, query, directory._AUTHORIZED_USER)
    assert [(row.name, row.email) for row in rows] == [("", "ann@northwind.example"), ("Pat", "pat@northwind.example")]


def test_last_sent_reminders_carry_what_peewee_reads(rows_data, monkeypatch):
    account = rows_data["account"]
    with db.database.connection_context():
        by_license = history.last_sent_reminders(account.id)
        query = peewee_query(monkeypatch, "last_sent_reminders", account_id=account.id)
        assert_named_as_peewee_reads(list(by_license.values()), query, history._SENT_REMINDER, ordered=False)
    [sent] = by_license.values()
    assert sent.recipient == "pat@northwind.example" and isinstance(sent.attempted_at, datetime)
    assert by_license == {sent.license_id: sent}


def test_licenses_by_account_reads_dates_and_totals_as_peewee_does(rows_data, today):
    account, other = rows_data["account"], rows_data["other"]
    with db.database.connection_context():
        datum = Account.get(Account.name == "Datum Corporation").id
        by_account = license_store.licenses_by_account([account.id, other.id, datum], "UTC")
        seats = {lic.plan: lic.current.seats for lic in License.select().where(
            (License.account == account.id) & License.retired_at.is_null())}
    assert set(by_account) == {account.id, other.id}  # Datum has no license
    mine = by_account[account.id]
    # E3 (rejected), E1 and E5 (renewed); F3 was removed.
    assert (mine.licenses, mine.seats) == (3, sum(seats.values()))
    assert mine.earliest == today + timedelta(days=40) and type(mine.earliest) is date
    deciding = {terms.plan: terms for terms in mine.deciding}
    rejected = deciding["Office 365 E3"]
    assert rejected.rejected and type(rejected.expires_on) is date and type(rejected.rejected_on) is date
    if on_postgresql():
        # The first not rejected by expiration: E5, renewed to 370 days out, before E1's 400.
        assert set(deciding) == {"Office 365 E3", "Office 365 E5"}
        assert deciding["Office 365 E5"].expires_on == today + timedelta(days=370)
    else:
        # E5's date is "next spring" on SQLite: read too, as Peewee leaves it, so the rule fails on it.
        assert set(deciding) == {"Office 365 E3", "Office 365 E1", "Office 365 E5"}
        assert deciding["Office 365 E5"].expires_on == "next spring"
        assert deciding["Office 365 E1"].expires_on == today + timedelta(days=400)
    theirs = by_account[other.id]
    assert (theirs.licenses, theirs.earliest, [terms.plan for terms in theirs.deciding]) == (
        1, today + timedelta(days=60), ["Office 365 E3"])


@pytest.mark.parametrize("current_only", [True, False])
def test_billing_accounts_with_versions_carry_what_peewee_reads(rows_data, current_only):
    with db.database.connection_context():
        ids = Account.select(Account.id)
        query = report._accounts_with_versions_query(ids, current_only)
        rows = list(rows_of(query, report._ACCOUNT_VERSION))
        named = assert_named_as_peewee_reads(rows, query, report._ACCOUNT_VERSION)
        grouped = {account.name: versions for account, versions in report._accounts_with_versions(ids, current_only)}
    assert grouped["Datum Corporation"] == []  # an account without licenses: its version is None
    assert len(grouped["Northwind Traders"]) == (4 if current_only else 5)  # the renewed license's first version
    assert sum(version.retired_at is not None for version in grouped["Northwind Traders"]) == 1
    assert {row["byol_enrolled"][1] for row in named} == {bool}


def test_removals_awaiting_carry_what_peewee_reads(rows_data):
    with db.database.connection_context():
        pat = User.get(User.email == "pat@northwind.example")
        for plan, user in (("Office 365 E1", pat.id), ("Office 365 E5", None)):
            license_store.request_removal(License.get(License.plan == plan), user)
        query = review_store._removals_query()
        rows = review_store.removals_awaiting()
        named = assert_named_as_peewee_reads(rows, query, review_store._AWAITING_REMOVAL)
    assert [(row.plan, row.requested_by, row.account_name) for row in rows] == [
        ("Office 365 E1", "pat@northwind.example", "Northwind Traders"), ("Office 365 E5", None, "Northwind Traders")]
    assert {row["removal_requested_at"][1] for row in named} == {datetime}


def test_an_aliased_field_is_named_by_its_alias_and_converted_as_peewee_converts(rows_data):
    class Expiry(NamedTuple):
        expires_on: date
        version_expires_on: date

    shape = RowShape(Expiry, License.expires_on, LicenseVersion.expires_on.alias("version_expires_on"))
    with db.database.connection_context():
        query = License.select(*shape.columns).join(LicenseVersion, on=(License.current == LicenseVersion.id))
        rows = list(rows_of(query, shape))
        named = assert_named_as_peewee_reads(rows, query, shape)
    assert len(rows) == 5 and date in {value_type for row in named for _, value_type in row.values()}


def test_every_compiled_select_and_row_shape_is_compared_with_peewee():
    """A new CompiledSelect, a new shape read with rows_of, or a CompiledStatement read by hand gets its test
    here: COMPILED, READ_WITH_ROWS_OF or READ_BY_HAND must list it."""
    declared = [
        value
        for name, module in list(sys.modules.items()) if name.startswith("webapp.")
        for value in vars(module).values() if isinstance(value, (CompiledStatement, RowShape))
    ]
    assert {id(value) for value in declared if isinstance(value, CompiledSelect)} == {
        id(compiled) for _, compiled in COMPILED.values()}
    assert {id(value) for value in declared if type(value) is CompiledStatement} == {
        id(compiled) for compiled in READ_BY_HAND.values()}
    assert {id(value) for value in declared if isinstance(value, RowShape)} == {id(shape) for shape in SHAPES.values()}


# --- refusals: at declaration, or at the first compile, before any SQL runs -----------------------

@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_row_type_field_no_column_fills_is_refused_when_the_shape_is_declared(name):
    shape = SHAPES[name]
    wider = NamedTuple(shape.type.__name__, [*shape.type.__annotations__.items(), ("purchase_order", str)])
    with pytest.raises(ValueError, match="no column fills purchase_order"):
        RowShape(wider, *shape.own.values(), **shape.nested)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_column_no_row_field_takes_is_refused_when_the_shape_is_declared(name):
    shape = SHAPES[name]
    with pytest.raises(ValueError, match="no field for the column.* sha256"):
        RowShape(shape.type, *shape.own.values(), ProofDocument.sha256, **shape.nested)


def test_two_columns_of_one_name_are_refused():
    class Named(NamedTuple):
        id: int
        name: str

    with pytest.raises(ValueError, match="two columns named 'id'"):
        RowShape(Named, Product.id, License.id, Product.name)
    with pytest.raises(ValueError, match="two columns named 'name'"):
        RowShape(Named, Product.id, Product.name, name=RowShape(Named, Account.id, Account.name))


def test_other_mistakes_are_refused_when_the_shape_is_declared():
    class Counted(NamedTuple):
        id: int
        count: int

    class Named(NamedTuple):
        name: str

    with pytest.raises(TypeError, match="model fields"):
        RowShape(Counted, Account.id, fn.COUNT(License.id))
    with pytest.raises(ValueError, match="optional row needs its id"):
        RowShape(Named, Account.name, optional=True)
    with pytest.raises(ValueError, match="not a foreign key to Product"):
        RowShape(User, User.id, account=RowShape(Product, Product.id))
    with pytest.raises(ValueError, match="not one of its own fields"):
        RowShape(User, User.id, Account.name)
    with pytest.raises(TypeError, match="named tuple or a model"):
        RowShape(dict, Account.id)


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_a_column_added_to_a_compiled_query_but_not_to_its_row_type_is_refused_at_the_first_compile(app, name):
    _, compiled = COMPILED[name]
    wider = CompiledSelect(compiled.shape, lambda: compiled.build().select_extend(ProofDocument.sha256))
    narrower = CompiledSelect(compiled.shape, lambda: compiled.build().select(*compiled.shape.columns[:-1]))
    with db.database.connection_context(), count_queries() as queries:
        with pytest.raises(ValueError, match=r"ProofDocument\.sha256 selected but named in no row type"):
            wider.run()
        with pytest.raises(ValueError, match="named but not selected"):
            narrower.run()
    assert queries == []


@pytest.mark.parametrize("name", sorted(READ_WITH_ROWS_OF))
def test_a_column_added_to_a_query_read_with_rows_of_but_not_to_its_row_type_is_refused(app, name):
    shape = READ_WITH_ROWS_OF[name]
    query = License.select(*shape.columns, ProofDocument.sha256)
    with db.database.connection_context(), count_queries() as queries:
        with pytest.raises(ValueError, match="selected but named in no row type"):
            rows_of(query, shape)
    assert queries == []
