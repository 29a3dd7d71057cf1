"""The audit trail's entries."""
from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    TextField,
)

from ..accounts.models import Account, User
from ..core.clock import utcnow
from ..extensions import db


class AuditEntry(db.Model):
    """One change, as staff must show it in a billing dispute: who, when, which account, what, before and after.

    Written by `webapp.audit.record()` in the change's own transaction. The database itself refuses
    to update or delete a row (triggers of migration 0024): a deleted user or account only sets its
    id here to NULL, leaving the entry with its label and subject, and `flask purge-audit` is the one
    way to remove entries past an age (see AuditPurge).
    """

    at = DateTimeField(default=utcnow, index=True)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_label = CharField(max_length=254)
    account = ForeignKeyField(Account, null=True, backref="audit_entries", on_delete="SET NULL")
    kind = CharField(max_length=48)
    subject = CharField(max_length=300, default="")
    before = TextField(default="")
    after = TextField(default="")
    internal = BooleanField(default=False)

    class Meta:
        indexes = ((("account", "at"), False), (("kind", "at"), False))


class AuditPurge(db.Model):
    """A permit, held for the length of one `flask purge-audit` transaction: the database's trigger lets
    a DELETE of an audit entry through only while a permit covers the entry's time (`at < before`).

    The command writes the permit, deletes, removes the permit and records the purge, all in one
    transaction, so no other connection ever sees a permit and the table is empty between purges.
    """

    before = DateTimeField()
