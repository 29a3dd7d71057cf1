"""Retiring a plan: a customer can remove a license they no longer have. The row stays,
with when and by whom it was removed, so staff keep its history and past billing cycles are still
decided as they were.

One license per plan now holds among the licenses not removed: the unique index on (account,
product, plan_key) becomes a partial one, WHERE retired_at IS NULL, so the same plan can be entered
again after it was removed, as a new license with a history of its own. No row changes: every
existing license is not removed, and the old index guaranteed they were unique already.
"""
from peewee import SQL, DateTimeField, ForeignKeyField, Model

OLD_INDEX = "license_account_id_product_id_plan_key"
NEW_INDEX = "license_unique_plan_not_retired"


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
        migrator.add_column("license", "retired_at", DateTimeField(null=True)),
        migrator.add_column("license", "retired_by_id", ForeignKeyField(User, field=User.id, null=True, on_delete="SET NULL")),
        migrator.drop_index("license", OLD_INDEX),
        migrator.add_index(
            "license", ("account_id", "product_id", "plan_key"), unique=True,
            where=SQL('"retired_at" IS NULL'), name=NEW_INDEX,
        ),
    )
