"""Previews of proof documents for staff: the `proofpreview` table keeps, per document, its first page
(a PDF) or the image scaled down, made when it was read. Empty at the upgrade: a document stored
before gets its preview the first time staff look at it.
"""
import datetime

from peewee import (
    BlobField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
)


def models(db):
    """The table this migration adds, frozen as it was when it was written (what it points at as a stub)."""

    class Base(Model):
        class Meta:
            database = db

    class ProofDocument(Base):
        class Meta:
            table_name = "proofdocument"

    class ProofPreview(Base):
        document = ForeignKeyField(ProofDocument, primary_key=True, on_delete="CASCADE")
        content = BlobField()
        media_type = CharField(max_length=16, default="")
        width = IntegerField(default=0)
        height = IntegerField(default=0)
        made_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "proofpreview"

    return [ProofPreview]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
