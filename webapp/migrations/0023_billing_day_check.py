"""A CHECK constraint on `account.billing_day`: the day a billing cycle starts is 1 to 31, whatever
writes the row (a manual UPDATE, an import), not only what `flask create-account` accepts.

A row outside the range is first brought to the nearest day the rules already read it as: the
billing rules take a day past the month's end as its last day (so 32 and above become 31), and a day
below 1 becomes 1. PostgreSQL adds the constraint; SQLite cannot, so the table is rebuilt with it
(the migration runner turns SQLite's foreign keys off for the rebuild).
"""
from playhouse.migrate import SqliteMigrator

CONSTRAINT = '"billing_day" BETWEEN 1 AND 31'
# PostgreSQL's own name for a column's CHECK, which a table made from the models gets.
NAME = "account_billing_day_check"


def up(migrator, db):
    db.execute_sql('UPDATE "account" SET "billing_day" = 31 WHERE "billing_day" > 31')
    db.execute_sql('UPDATE "account" SET "billing_day" = 1 WHERE "billing_day" < 1 OR "billing_day" IS NULL')
    if isinstance(migrator, SqliteMigrator):
        # No ALTER TABLE ... ADD CONSTRAINT in SQLite: peewee rebuilds the table with the column redefined.
        migrator.migrate(migrator._update_column(
            "account", "billing_day", lambda name, definition: f"{definition} CHECK ({CONSTRAINT})"))
    else:
        db.execute_sql(f'ALTER TABLE "account" ADD CONSTRAINT "{NAME}" CHECK ({CONSTRAINT})')
