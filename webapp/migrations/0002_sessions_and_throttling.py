"""Server-side sessions: one row per sign-in, keyed by the SHA-256 of the cookie's id;
and login throttling: failed-login counters per email and per client address.

Sessions signed in before this migration carried the user id in the cookie; they are no longer
accepted, so everyone signs in once more after the upgrade.
"""
import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model


def models(db):
    """The tables this migration adds, frozen as they were when it was written."""

    class Base(Model):
        class Meta:
            database = db

    class User(Base):
        class Meta:
            table_name = "user"

    class LoginSession(Base):
        id = CharField(max_length=64, primary_key=True)
        user = ForeignKeyField(User, on_delete="CASCADE")
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        last_seen_at = DateTimeField(default=datetime.datetime.utcnow)
        ip_address = CharField(max_length=45, default="")
        user_agent = CharField(max_length=200, default="")

        class Meta:
            table_name = "loginsession"

    class LoginThrottle(Base):
        key = CharField(max_length=64, primary_key=True)
        failures = IntegerField(default=0)
        window_start = DateTimeField(default=datetime.datetime.utcnow, index=True)

        class Meta:
            table_name = "loginthrottle"

    return [LoginSession, LoginThrottle]


def up(migrator, db):
    db.create_tables(models(db))
