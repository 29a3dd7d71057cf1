"""The audit trail (issue 10): one row per change, with who, when, the account, what, and the
values before and after. Written in the change's own transaction by `webapp.audit.record()`."""
import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, Model, TextField


def models(db):
    """The table this migration adds, bound to `db` (the tables it points at as stubs)."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        class Meta:
            table_name = "account"

    class User(Base):
        class Meta:
            table_name = "user"

    class AuditEntry(Base):
        at = DateTimeField(default=datetime.datetime.utcnow, index=True)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
        actor_label = CharField(max_length=254)
        account = ForeignKeyField(Account, null=True, on_delete="SET NULL")
        kind = CharField(max_length=48)
        subject = CharField(max_length=300, default="")
        before = TextField(default="")
        after = TextField(default="")
        internal = BooleanField(default=False)

        class Meta:
            table_name = "auditentry"
            indexes = ((("account", "at"), False), (("kind", "at"), False))

    return [AuditEntry]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
