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

    Written by `webapp.audit.record()` in the change's own transaction. Nothing in the product
    updates or deletes a row; a deleted user or account leaves the entry with its label and subject.
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
