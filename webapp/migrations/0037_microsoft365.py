"""Verified by Microsoft 365: the tenant an account connected (one account per tenant), the dated snapshots
of its subscriptions, and the pending admin-consent requests. New tables only; no row changes.
"""
import datetime

from peewee import CharField, DateField, DateTimeField, ForeignKeyField, Model, TextField


def models(db):
    """The tables this migration adds, frozen as they were when it was written (what they point at as stubs)."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        class Meta:
            table_name = "account"

    class User(Base):
        class Meta:
            table_name = "user"

    class TenantLink(Base):
        account = ForeignKeyField(Account, unique=True, on_delete="CASCADE")
        tenant_id = CharField(max_length=36, unique=True)
        organization_name = CharField(max_length=256, default="")
        status = CharField(max_length=16, default="connected")
        connected_at = DateTimeField(default=datetime.datetime.utcnow)
        connected_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        read_at = DateTimeField(null=True)
        problem = TextField(default="")
        problem_at = DateTimeField(null=True)

        class Meta:
            table_name = "tenantlink"

    class TenantSnapshot(Base):
        account = ForeignKeyField(Account, on_delete="CASCADE")
        tenant_id = CharField(max_length=36)
        taken_at = DateTimeField(default=datetime.datetime.utcnow)
        taken_on = DateField()
        subscriptions = TextField()
        subscribed_skus = TextField()

        class Meta:
            table_name = "tenantsnapshot"
            indexes = ((("account", "taken_on"), True),)

    class ConsentRequest(Base):
        state_digest = CharField(max_length=64, primary_key=True)
        account = ForeignKeyField(Account, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE")
        session_digest = CharField(max_length=64)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            table_name = "consentrequest"

    return [TenantLink, TenantSnapshot, ConsentRequest]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
