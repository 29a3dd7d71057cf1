"""One document read at a time per account: the `documentreading` table holds, per account, the lease
of the reading under way (webapp.licenses.reading). Empty at the upgrade: no reading is under way.
"""
from peewee import CharField, DateTimeField, ForeignKeyField, Model


def models(db):
    """The table this migration adds, frozen as it was when it was written (what it points at as a stub)."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        class Meta:
            table_name = "account"

    class DocumentReading(Base):
        account = ForeignKeyField(Account, primary_key=True, on_delete="CASCADE")
        holder = CharField(max_length=32)
        expires_at = DateTimeField()

        class Meta:
            table_name = "documentreading"

    return [DocumentReading]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
