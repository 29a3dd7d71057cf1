"""Trust in proof: a version saved anyway against a document that says otherwise (with the customer's
note to staff), and the removal of a lapsed plan awaiting staff confirmation (when and by whom it was
asked). No row changes: no existing version was saved anyway, and no removal awaits.
"""
from peewee import BooleanField, DateTimeField, ForeignKeyField, Model, TextField


def models(db):
    """The table the new column points at, as a stub."""

    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    return [User]


def up(migrator, db):
    (User,) = models(db)
    migrator.migrate(
        migrator.add_column("licenseversion", "saved_anyway", BooleanField(default=False)),
        migrator.add_column("licenseversion", "customer_note", TextField(default="")),
        migrator.add_column("license", "removal_requested_at", DateTimeField(null=True)),
        migrator.add_column(
            "license", "removal_requested_by_id", ForeignKeyField(User, field=User.id, null=True, on_delete="SET NULL")
        ),
    )
