"""The audit trail becomes append-only in the database, not only in the application: triggers refuse
every UPDATE and DELETE of an `auditentry` row, on SQLite and on PostgreSQL (TRUNCATE too).

Two changes still pass, because the database makes them itself:
- deleting a user or an account sets `actor_id` / `account_id` to NULL (their ON DELETE SET NULL),
  every other column unchanged: the entry keeps its actor's label and its subject;
- `flask purge-audit` deletes entries older than a cutoff while a row of the new `auditpurge`
  table, written in the command's own transaction, covers them (`at < before`).
"""
from peewee import DateTimeField, Model
from playhouse.migrate import SqliteMigrator

REFUSED = "audit entries are append-only; flask purge-audit removes old ones"
# Every column but the two foreign keys the database may set to NULL.
FIXED = ("id", "at", "actor_label", "kind", "subject", "before", "after", "internal")


def models(db):
    class AuditPurge(Model):
        before = DateTimeField()

        class Meta:
            database = db
            table_name = "auditpurge"

    return [AuditPurge]


def _unchanged(same):
    """The condition of an UPDATE that only nulls the foreign keys; `same` compares two values null-safely."""
    fixed = [same(f'NEW."{column}"', f'OLD."{column}"') for column in FIXED]
    nulled = [f'({same(f"NEW.{fk}", f"OLD.{fk}")} OR NEW.{fk} IS NULL)' for fk in ("actor_id", "account_id")]
    return " AND ".join(fixed + nulled)


PERMITTED = 'EXISTS (SELECT 1 FROM "auditpurge" WHERE OLD."at" < "auditpurge"."before")'


def up(migrator, db):
    db.create_tables(models(db), safe=False)
    if isinstance(migrator, SqliteMigrator):
        same = lambda a, b: f"{a} IS {b}"  # noqa: E731 - SQLite's IS is null-safe equality
        db.execute_sql(f'CREATE TRIGGER "auditentry_no_update" BEFORE UPDATE ON "auditentry" '
                       f"WHEN NOT ({_unchanged(same)}) BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END")
        db.execute_sql(f'CREATE TRIGGER "auditentry_no_delete" BEFORE DELETE ON "auditentry" '
                       f"WHEN NOT {PERMITTED} BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END")
        return
    same = lambda a, b: f"{a} IS NOT DISTINCT FROM {b}"  # noqa: E731
    db.execute_sql(f"""
        CREATE FUNCTION auditentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND {_unchanged(same)} THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'DELETE' AND {PERMITTED} THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'integrity_constraint_violation';
        END $$""")
    db.execute_sql('CREATE TRIGGER "auditentry_append_only" BEFORE UPDATE OR DELETE ON "auditentry" '
                   "FOR EACH ROW EXECUTE FUNCTION auditentry_append_only()")
    db.execute_sql(f"""
        CREATE FUNCTION auditentry_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'integrity_constraint_violation';
        END $$""")
    db.execute_sql('CREATE TRIGGER "auditentry_no_truncate" BEFORE TRUNCATE ON "auditentry" '
                   "FOR EACH STATEMENT EXECUTE FUNCTION auditentry_no_truncate()")
