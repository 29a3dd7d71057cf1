"""An account's Microsoft 365 tenant, the dated snapshots of what Graph said about it, and the pending
admin-consent requests (their single-use `state`)."""
from peewee import CharField, DateField, DateTimeField, ForeignKeyField, TextField

from ..accounts.models import Account, User
from ..core.clock import utcnow
from ..extensions import db


class TenantLink(db.Model):
    """The tenant an account proved it holds. One tenant belongs to one account (unique), and an account has one."""

    CONNECTED = "connected"
    NOT_CONNECTED = "not_connected"

    account = ForeignKeyField(Account, unique=True, backref="+", on_delete="CASCADE")
    tenant_id = CharField(max_length=36, unique=True)
    organization_name = CharField(max_length=256, default="")
    status = CharField(max_length=16, default=CONNECTED)
    connected_at = DateTimeField(default=utcnow)
    connected_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    # The last reading's outcome: when it last succeeded, and why the last one failed ("" when it did not).
    read_at = DateTimeField(null=True)
    problem = TextField(default="")
    problem_at = DateTimeField(null=True)

    @property
    def is_connected(self):
        return self.status == self.CONNECTED


class TenantSnapshot(db.Model):
    """What Graph said about an account's tenant on one business day (a later reading that day replaces it).

    The JSON items as Graph sent them (/v1.0/directory/subscriptions, /v1.0/subscribedSkus): never a token.
    """

    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    tenant_id = CharField(max_length=36)
    taken_at = DateTimeField(default=utcnow)
    taken_on = DateField()
    subscriptions = TextField()
    subscribed_skus = TextField()

    class Meta:
        indexes = ((("account", "taken_on"), True),)


class ConsentRequest(db.Model):
    """A Connect Microsoft 365 on its way through Microsoft: the `state` it carries (its SHA-256 only), bound to
    the sign-in that asked; used once, by a conditional UPDATE, within its expiry."""

    state_digest = CharField(max_length=64, primary_key=True)
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    session_digest = CharField(max_length=64)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
