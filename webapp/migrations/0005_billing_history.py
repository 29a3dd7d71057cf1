"""Billing history (account status and enrollment changes, every review of a license version), API
tokens and calendar feed tokens.

A past billing cycle is decided from what was on file at its start, so the review state and the
enrollment must be known as they were then. Until now only the latest review was kept (on the
version) and account changes overwrote the row.

Backfill: every version that has been reviewed gets one review event, from "pending" to its
review state, at its `reviewed_at` (or, when that is missing, its submission time). Nothing is
known of earlier account changes, so none are invented: an account with no recorded change has
had its current status and enrollment all along.
"""
import datetime

from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def models(db):
    """The tables this migration adds, bound to `db` (the tables they point at as stubs)."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        class Meta:
            table_name = "account"

    class User(Base):
        class Meta:
            table_name = "user"

    class LicenseVersion(Base):
        class Meta:
            table_name = "licenseversion"

    class AccountChange(Base):
        account = ForeignKeyField(Account, on_delete="CASCADE")
        field = CharField(max_length=16)
        previous = CharField(max_length=16)
        value = CharField(max_length=16)
        changed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        changed_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "accountchange"
            indexes = ((("account", "changed_at"), False),)

    class ReviewEvent(Base):
        version = ForeignKeyField(LicenseVersion, on_delete="CASCADE")
        previous_status = CharField(max_length=16)
        review_status = CharField(max_length=16)
        review_reason = TextField(default="")
        reviewed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        reviewed_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "reviewevent"
            indexes = ((("version", "reviewed_at"), False),)

    class ApiToken(Base):
        name = CharField(max_length=100, unique=True)
        token_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        last_used_at = DateTimeField(null=True)
        window_started_at = DateTimeField(null=True)
        window_count = IntegerField(default=0)

        class Meta:
            table_name = "apitoken"

    class CalendarFeed(Base):
        account = ForeignKeyField(Account, unique=True, on_delete="CASCADE")
        token_hash = CharField(max_length=64, unique=True)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "calendarfeed"

    return [AccountChange, ReviewEvent, ApiToken, CalendarFeed]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
    db.execute_sql(
        'INSERT INTO "reviewevent" ("version_id", "previous_status", "review_status", "review_reason", '
        '"reviewed_by_id", "reviewed_at") '
        "SELECT \"id\", 'pending', \"review_status\", \"review_reason\", NULL, "
        'COALESCE("reviewed_at", "submitted_at") FROM "licenseversion" '
        "WHERE \"review_status\" <> 'pending' ORDER BY \"id\""
    )
