"""The database keeps the audit trail append-only (migration 0024): it refuses every UPDATE and DELETE
of an entry, on SQLite and PostgreSQL alike, except the foreign keys it nulls itself when a user or
account is deleted, and the deletes of `flask purge-audit`, which records that it ran."""
from datetime import timedelta

import pytest
from conftest import TEST_DATABASE_URL
from peewee import DatabaseError

from webapp import audit
from webapp.accounts.models import Account, User
from webapp.audit.models import AuditEntry, AuditPurge
from webapp.core.clock import utcnow
from webapp.extensions import db


def refused(statement, *params):
    """True when the database refuses the SQL (rolled back to a savepoint, so the test goes on)."""
    try:
        with db.database.atomic():
            db.database.execute_sql(statement, params)
    except DatabaseError:
        return True
    return False


@pytest.fixture
def entry(app, account, user):
    with db.database.connection_context():
        return audit.record("account.suspended", account=account.id, subject="Northwind Traders", actor=user,
                            before={"status": "active"}, after={"status": "suspended"})


def row(entry_id):
    with db.database.connection_context():
        return AuditEntry.select().where(AuditEntry.id == entry_id).dicts().first()


@pytest.mark.parametrize("change", [
    "\"subject\" = 'nothing happened'", "\"after\" = ''", "\"kind\" = 'account.reactivated'",
    "\"at\" = '2001-01-01 00:00:00'", "\"internal\" = TRUE", "\"actor_label\" = 'someone else'",
    "\"id\" = \"id\" + 1000", "\"account_id\" = NULL, \"subject\" = ''",
])
def test_the_database_refuses_any_update_of_an_entry(app, entry, change):
    kept = row(entry.id)
    with db.database.connection_context():
        assert refused(f'UPDATE "auditentry" SET {change} WHERE "id" = {entry.id}')
    assert row(entry.id) == kept


def test_the_database_refuses_to_delete_an_entry_old_or_new(app, entry):
    with db.database.connection_context():
        audit.record("account.created", subject="old", at=utcnow() - timedelta(days=4000))
        assert refused(f'DELETE FROM "auditentry" WHERE "id" = {entry.id}')
        assert refused('DELETE FROM "auditentry"')
        assert AuditEntry.select().count() == 2


def test_emptying_the_table_at_once_is_refused(app, entry):
    # PostgreSQL's TRUNCATE passes row triggers by (a statement trigger refuses it); SQLite has no TRUNCATE,
    # its whole-table DELETE is what its truncate optimisation would take, and the row trigger refuses it.
    with db.database.connection_context():
        assert refused('TRUNCATE "auditentry"' if TEST_DATABASE_URL else 'DELETE FROM "auditentry"')
        assert AuditEntry.select().count() == 1


def test_deleting_the_user_and_account_named_keeps_the_entry_with_its_words(app, entry, account, user):
    with db.database.connection_context():
        User.delete().where(User.id == user.id).execute()
        Account.delete().where(Account.id == account.id).execute()
    kept = row(entry.id)
    assert (kept["actor"], kept["account"]) == (None, None)
    assert (kept["actor_label"], kept["subject"]) == (user.email, "Northwind Traders")


def test_purge_audit_removes_only_entries_past_the_age_and_records_itself(app, runner, account):
    now = utcnow()
    with db.database.connection_context():
        old = [audit.record("account.created", subject=f"old {n}", at=now - timedelta(days=400 + n)) for n in range(3)]
        recent = audit.record("account.suspended", subject="recent", at=now - timedelta(days=100))

    result = runner.invoke(args=["purge-audit", "--older-than-days", "365"])

    assert result.exit_code == 0, result.output
    assert "purged 3 audit entries recorded before" in result.output
    with db.database.connection_context():
        subjects = [e.subject for e in AuditEntry.select().order_by(AuditEntry.id)]
        assert [e.id for e in old if row(e.id)] == [] and row(recent.id) is not None
        (purge,) = AuditEntry.select().where(AuditEntry.kind == "audit.purged")
        assert purge.actor_label == "command line" and purge.internal
        assert audit.values(purge.after)["removed"] == 3
        assert AuditPurge.select().count() == 0  # the permit lived only inside the command's transaction
        # ... so the database refuses deletes again afterwards.
        assert refused(f'DELETE FROM "auditentry" WHERE "id" = {recent.id}')
    assert subjects[0] == "recent"


@pytest.mark.parametrize("days", ["0", "29", "-5", "ten", ""])
def test_purge_audit_refuses_a_retention_below_30_days(app, runner, days):
    with db.database.connection_context():
        audit.record("account.created", subject="kept", at=utcnow() - timedelta(days=20))
    result = runner.invoke(args=["purge-audit", "--older-than-days", days])
    assert result.exit_code == 2
    with db.database.connection_context():
        assert AuditEntry.select().count() == 1


def test_purge_audit_needs_its_age(app, runner):
    result = runner.invoke(args=["purge-audit"])
    assert result.exit_code == 2 and "--older-than-days" in result.output
