"""The audit trail: one row per change, with who, when, the account, what, and the
values before and after. Written in the change's own transaction by `webapp.audit.record()`.

Backfill: what the database already knows becomes entries, each marked `"backfilled": true` in its
values after, so a reader can tell them from entries written as the change happened. Every license
version is a "proof.uploaded" at its submission time by its submitter; every review event a
"proof.reviewed"; every account change an "account.suspended", "account.reactivated" or
"account.byol_switched". Nothing else was recorded before, so nothing else is invented.
"""
import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    Model,
    PostgresqlDatabase,
    Proxy,
    TextField,
)


def models(db):
    """The table this migration adds, bound to `db` (the tables it points at as stubs)."""

    class Base(Model):
        class Meta:
            database = db

    class Account(Base):
        class Meta:
            table_name = "account"

    class User(Base):
        class Meta:
            table_name = "user"

    class AuditEntry(Base):
        at = DateTimeField(default=datetime.datetime.utcnow, index=True)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
        actor_label = CharField(max_length=254)
        account = ForeignKeyField(Account, null=True, on_delete="SET NULL")
        kind = CharField(max_length=48)
        subject = CharField(max_length=300, default="")
        before = TextField(default="")
        after = TextField(default="")
        internal = BooleanField(default=False)

        class Meta:
            table_name = "auditentry"
            indexes = ((("account", "at"), False), (("kind", "at"), False))

    return [AuditEntry]


# Whose name an entry gets when the row names nobody (a user deleted since, or a script's row).
UNKNOWN_ACTOR = "unknown (recorded before the audit trail)"


def _backfill_statements(db):
    """The INSERT ... SELECT of each backfill, in the JSON dialect of the database."""
    # The runner may hand over a Proxy (the app's database); the dialect is the real one's.
    real = db.obj if isinstance(db, Proxy) else db
    if isinstance(real, PostgresqlDatabase):
        obj, true = "json_build_object", "TRUE"
    else:
        obj, true = "json_object", "json('true')"
    columns = '"at", "actor_id", "actor_label", "account_id", "kind", "subject", "before", "after", "internal"'
    unknown = f"'{UNKNOWN_ACTOR}'"
    return [
        f'INSERT INTO "auditentry" ({columns}) '
        f'SELECT v."submitted_at", v."submitted_by_id", COALESCE(u."email", {unknown}), l."account_id", '
        f"'proof.uploaded', l.\"plan\", '', "
        f"CAST({obj}('file', d.\"original_name\", 'bytes', d.\"size\", 'expires_on', v.\"expires_on\", "
        f"'backfilled', {true}) AS TEXT), FALSE "
        'FROM "licenseversion" v JOIN "license" l ON l."id" = v."license_id" '
        'JOIN "proofdocument" d ON d."id" = v."proof_id" LEFT JOIN "user" u ON u."id" = v."submitted_by_id" '
        'ORDER BY v."id"',
        f'INSERT INTO "auditentry" ({columns}) '
        f'SELECT r."reviewed_at", r."reviewed_by_id", COALESCE(u."email", {unknown}), l."account_id", '
        f"'proof.reviewed', l.\"plan\", CAST({obj}('review_status', r.\"previous_status\") AS TEXT), "
        f"CAST({obj}('review_status', r.\"review_status\", 'review_reason', r.\"review_reason\", "
        f"'backfilled', {true}) AS TEXT), FALSE "
        'FROM "reviewevent" r JOIN "licenseversion" v ON v."id" = r."version_id" '
        'JOIN "license" l ON l."id" = v."license_id" LEFT JOIN "user" u ON u."id" = r."reviewed_by_id" '
        'ORDER BY r."id"',
        f'INSERT INTO "auditentry" ({columns}) '
        f'SELECT c."changed_at", c."changed_by_id", COALESCE(u."email", {unknown}), c."account_id", '
        "CASE WHEN c.\"field\" = 'enrollment' THEN 'account.byol_switched' "
        "WHEN c.\"value\" = 'suspended' THEN 'account.suspended' ELSE 'account.reactivated' END, "
        f'a."name", CAST({obj}(c."field", c."previous") AS TEXT), '
        f"CAST({obj}(c.\"field\", c.\"value\", 'backfilled', {true}) AS TEXT), FALSE "
        'FROM "accountchange" c JOIN "account" a ON a."id" = c."account_id" '
        'LEFT JOIN "user" u ON u."id" = c."changed_by_id" ORDER BY c."id"',
    ]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
    for statement in _backfill_statements(db):
        db.execute_sql(statement)
