"""The document is read: each proof document keeps its text layer as read at upload and
how the reading went, and each license version gets the comparison of that text with its terms.

Documents stored before this release are `unchecked` with no text; their versions have no check row.
"""
import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, Model, TextField


def models(db):
    """The table this migration adds, frozen as it was when it was written (what it points at as a stub)."""

    class Base(Model):
        class Meta:
            database = db

    class LicenseVersion(Base):
        class Meta:
            table_name = "licenseversion"

    class ProofCheck(Base):
        version = ForeignKeyField(LicenseVersion, unique=True, on_delete="CASCADE")
        status = CharField(max_length=16)
        plan = CharField(max_length=16, default="")
        plan_seen = CharField(max_length=100, default="")
        seats = CharField(max_length=16, default="")
        seats_seen = CharField(max_length=100, default="")
        expires_on = CharField(max_length=16, default="")
        expires_on_seen = CharField(max_length=100, default="")
        tenant = CharField(max_length=16, default="")
        tenant_seen = CharField(max_length=100, default="")
        checked_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "proofcheck"

    return [ProofCheck]


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("proofdocument", "text_status", CharField(max_length=16, default="unchecked")),
        migrator.add_column("proofdocument", "extracted_text", TextField(default="")),
    )
    db.create_tables(models(db), safe=False)
