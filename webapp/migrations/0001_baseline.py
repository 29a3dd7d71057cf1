"""The schema of the first release: accounts, users, products, proofs, licenses and their versions, reminders.

The models below are a frozen copy of that release's `webapp/models.py`; they never follow later
model changes (those are later migrations). `webapp.migrations` also uses `models()` to recognise a
database that the first release created with `create_tables()`, before migrations existed.
"""
import datetime

from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def models(db):
    """The first release's tables, bound to `db`, in creation order."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        name = CharField(max_length=200, unique=True)
        status = CharField(max_length=16, default="active")
        byol_enrolled = BooleanField(default=True)
        billing_day = IntegerField(default=1)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "account"

    class User(Base):
        email = CharField(max_length=254, unique=True)
        name = CharField(max_length=200, default="")
        password_hash = CharField(max_length=256)
        account = ForeignKeyField(Account, null=True, on_delete="CASCADE")
        is_admin = BooleanField(default=False)
        is_authorized = BooleanField(default=False)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "user"

    class Product(Base):
        name = CharField(max_length=100, unique=True)
        position = IntegerField(default=0)

        class Meta:
            table_name = "product"

    class ProofDocument(Base):
        account = ForeignKeyField(Account, on_delete="CASCADE")
        content = BlobField()
        sha256 = CharField(max_length=64)
        size = IntegerField()
        original_name = CharField(max_length=255)
        media_type = CharField(max_length=50)
        uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        uploaded_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "proofdocument"

    class License(Base):
        account = ForeignKeyField(Account, on_delete="CASCADE")
        product = ForeignKeyField(Product)
        plan = CharField(max_length=200)
        plan_key = CharField(max_length=200)
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        # A DeferredForeignKey in the models: an indexed integer with no constraint.
        current = IntegerField(null=True, index=True, column_name="current_id")

        class Meta:
            table_name = "license"
            indexes = ((("account", "product", "plan_key"), True),)

    class LicenseVersion(Base):
        license = ForeignKeyField(License, on_delete="CASCADE")
        seats = IntegerField()
        term = CharField(max_length=16)
        expires_on = DateField(index=True)
        tenant = CharField(max_length=253)
        contact_name = CharField(max_length=200)
        contact_email = CharField(max_length=254)
        proof = ForeignKeyField(ProofDocument)
        review_status = CharField(max_length=16, default="pending")
        review_reason = TextField(default="")
        reviewed_at = DateTimeField(null=True)
        submitted_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        submitted_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "licenseversion"

    class Reminder(Base):
        license = ForeignKeyField(License, on_delete="CASCADE")
        expires_on = DateField()
        kind = CharField(max_length=32, default="expiry-30-days")
        status = CharField(max_length=16, default="pending")
        recipient = CharField(max_length=254, default="")
        attempts = IntegerField(default=0)
        last_error = TextField(default="")
        claim_token = CharField(max_length=32, null=True)
        claimed_at = DateTimeField(null=True)
        sent_at = DateTimeField(null=True)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "reminder"
            indexes = (
                (("license", "expires_on", "kind"), True),
                (("expires_on", "id"), False),
            )

    class ReminderAttempt(Base):
        reminder = ForeignKeyField(Reminder, on_delete="CASCADE")
        license = ForeignKeyField(License, on_delete="CASCADE")
        expires_on = DateField()
        recipient = CharField(max_length=254)
        attempted_at = DateTimeField(default=datetime.datetime.utcnow)
        outcome = CharField(max_length=16)
        error = TextField(default="")

        class Meta:
            table_name = "reminderattempt"

    return [Account, User, Product, ProofDocument, License, LicenseVersion, Reminder, ReminderAttempt]


def up(migrator, db):
    db.create_tables(models(db))
