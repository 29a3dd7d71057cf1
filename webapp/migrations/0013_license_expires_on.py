"""The current version's expiration date and seats on the license itself, with two partial indexes.

The dashboard's 12-month expiry timeline read every license joined to its current version; on
PostgreSQL at 250k licenses that was a scan of the whole license table per request, and the accounts
list's date filters and its sort by earliest expiration read every license of every account. The new
columns are set with `current` by the code that adds a version; this migration fills them for every
existing license from its current version (NULL for a license without one), then indexes the date
(with the account and seats the timeline sums) and the account with the date, among the licenses
not removed.
"""
from peewee import SQL, DateField, IntegerField

NOT_RETIRED = SQL('"retired_at" IS NULL')


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("license", "expires_on", DateField(null=True)),
        migrator.add_column("license", "seats", IntegerField(null=True)),
    )
    for column in ("expires_on", "seats"):
        db.execute_sql(
            f'UPDATE "license" SET "{column}" = '
            f'(SELECT "v"."{column}" FROM "licenseversion" AS "v" WHERE "v"."id" = "license"."current_id")'
        )
    migrator.migrate(
        migrator.add_index("license", ("expires_on", "account_id", "seats"), False, where=NOT_RETIRED,
                           name="license_expires_on_not_retired"),
        migrator.add_index("license", ("account_id", "expires_on"), False, where=NOT_RETIRED,
                           name="license_account_expires_on_not_retired"),
    )
