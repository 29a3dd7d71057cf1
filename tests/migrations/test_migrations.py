"""Schema migrations: the models and the migrations agree, a first-release database upgrades with
every row intact, an unknown database is refused untouched, and a failing migration rolls back.

Each test gets an empty database of the kind under test: a new SQLite file, or this test process's
PostgreSQL database (TEST_DATABASE_URL, or a parallel worker's own copy of it) with its schema emptied
(and emptied again afterwards, so the next test's `app` fixture migrates it from scratch).
"""
import hashlib
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import PASSWORD, TEST_DATABASE_URL, schema_changed
from werkzeug.security import generate_password_hash

from config import TestConfig
from webapp import create_app
from webapp import migrations as schema
from webapp.accounts.models import Account
from webapp.cli.demo import demo_pdf
from webapp.core.database import open_database
from webapp.extensions import db
from webapp.migrations import MODELS

FIXTURES = Path(__file__).parent.parent / "fixtures"
ON_POSTGRES = bool(TEST_DATABASE_URL)


def _drop_everything(database):
    schema_changed()  # on PostgreSQL this is the suite's database: the next app fixture migrates it again
    if ON_POSTGRES:
        database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    else:
        database.pragma("foreign_keys", 0)
        for table in database.get_tables():
            database.execute_sql(f'DROP TABLE "{table}"')
        database.pragma("foreign_keys", 1)


@pytest.fixture
def blank_url(tmp_path, database_url):
    """The URL of an empty database of the kind under test."""
    url = database_url if ON_POSTGRES else f"sqlite:///{tmp_path / 'blank.sqlite3'}"
    database = open_database(url)
    with database.connection_context():
        _drop_everything(database)
    yield url
    with database.connection_context():
        _drop_everything(database)
    database.close()


@pytest.fixture
def blank(blank_url):
    """An open connection to the empty database."""
    database = open_database(blank_url)
    database.connect()
    yield database
    database.close()


def snapshot(database):
    """Everything the drift check compares: per table, its columns, indexes and foreign keys."""
    tables = {}
    for table in sorted(set(database.get_tables()) - {schema.HISTORY_TABLE}):
        tables[table] = {
            "columns": sorted(
                (c.name, c.full_type.lower(), c.null, c.primary_key, c.default)
                for c in database.get_columns(table)
            ),
            "indexes": sorted(
                (i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (f.column, f.dest_table, f.dest_column, f.on_delete, f.on_update)
                for f in database.get_foreign_keys(table)
            ),
        }
    return tables


def differences(migrated, modelled):
    """Human-readable lines for every way two snapshots differ (empty when they agree)."""
    lines = []
    for table in sorted(set(migrated) | set(modelled)):
        if table not in modelled:
            lines.append(f"{table}: made by the migrations, not in the models")
        elif table not in migrated:
            lines.append(f"{table}: in the models, no migration creates it")
        else:
            for part in ("columns", "indexes", "foreign_keys"):
                only_migrated = set(migrated[table][part]) - set(modelled[table][part])
                only_modelled = set(modelled[table][part]) - set(migrated[table][part])
                lines += [f"{table} {part}: only from the migrations: {item}" for item in sorted(only_migrated)]
                lines += [f"{table} {part}: only in the models: {item}" for item in sorted(only_modelled)]
    return lines


def drift(database):
    """Build the schema from the migrations, then from the models, and compare the two."""
    schema.upgrade(database)
    migrated = snapshot(database)
    _drop_everything(database)
    with database.bind_ctx(MODELS):
        database.create_tables(MODELS)
    modelled = snapshot(database)
    _drop_everything(database)
    return differences(migrated, modelled)


def test_models_and_migrations_agree(blank):
    assert drift(blank) == []


def test_drift_check_fails_when_a_model_changes_without_a_migration(blank):
    from peewee import CharField

    Account._meta.add_field("nickname", CharField(max_length=40, null=True))
    try:
        found = drift(blank)
    finally:
        Account._meta.remove_field("nickname")
    assert any(line.startswith("account columns: only in the models: ('nickname'") for line in found), found


# -- a database made by the first release ------------------------------------------------------

def _load_first_release_schema(database):
    if ON_POSTGRES:
        database.execute_sql((FIXTURES / "baseline_postgresql.sql").read_text())
    else:
        database.connection().executescript((FIXTURES / "baseline_sqlite.sql").read_text())


def _insert(database, table, **values):
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join([database.param] * len(values))
    database.execute_sql(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(values.values()))


FIRST_RELEASE_TABLES = {
    "account": "id, name, status, byol_enrolled, billing_day, created_at",
    "user": "id, email, name, password_hash, account_id, is_admin, is_authorized, created_at",
    "product": "id, name, position",
    "proofdocument": "id, account_id, content, sha256, size, original_name, media_type, uploaded_by_id, uploaded_at",
    "license": "id, account_id, product_id, plan, plan_key, created_at, current_id",
    "licenseversion": "id, license_id, seats, term, expires_on, tenant, contact_name, contact_email, proof_id, "
                      "review_status, review_reason, reviewed_at, submitted_by_id, submitted_at",
    "reminder": "id, license_id, expires_on, kind, status, recipient, attempts, last_error, claim_token, "
                "claimed_at, sent_at, created_at",
    "reminderattempt": "id, reminder_id, license_id, expires_on, recipient, attempted_at, outcome, error",
}


def _fill_first_release(database, today):
    """Rows in every table of the first release, as its code wrote them (explicit ids, real bytes)."""
    now = datetime(2026, 5, 4, 9, 30, 15)
    old_pdf, new_pdf = demo_pdf("First proof"), demo_pdf("Renewed proof")
    with database.atomic():
        _insert(database, "account", id=1, name="Northwind Traders", status="active", byol_enrolled=True,
                billing_day=15, created_at=now)
        _insert(database, "account", id=2, name="Fabrikam", status="suspended", byol_enrolled=False,
                billing_day=31, created_at=now)
        _insert(database, "user", id=1, email="pat@northwind.example", name="Pat Doe",
                password_hash=generate_password_hash(PASSWORD, TestConfig.PASSWORD_HASH_METHOD), account_id=1, is_admin=False,
                is_authorized=True, created_at=now)
        _insert(database, "user", id=2, email="staff@provider.example", name="",
                password_hash=generate_password_hash(PASSWORD, TestConfig.PASSWORD_HASH_METHOD), account_id=None, is_admin=True,
                is_authorized=False, created_at=now)
        _insert(database, "product", id=1, name="MS Office 365", position=0)
        for doc_id, content, name in ((1, old_pdf, "old.pdf"), (2, new_pdf, "renewed.pdf")):
            _insert(database, "proofdocument", id=doc_id, account_id=1, content=content,
                    sha256=hashlib.sha256(content).hexdigest(), size=len(content), original_name=name,
                    media_type="application/pdf", uploaded_by_id=1, uploaded_at=now)
        _insert(database, "license", id=1, account_id=1, product_id=1, plan="Office 365 E3",
                plan_key="office 365 e3", created_at=now, current_id=None)
        for version_id, proof_id, expires_on, status in (
            (1, 1, today + timedelta(days=20), "rejected"),
            (2, 2, today + timedelta(days=200), "accepted"),
        ):
            _insert(database, "licenseversion", id=version_id, license_id=1, seats=25, term="Yearly",
                    expires_on=expires_on, tenant="northwind.onmicrosoft.com", contact_name="Pat Doe",
                    contact_email="pat@northwind.example", proof_id=proof_id, review_status=status,
                    review_reason="Blurry scan" if status == "rejected" else "", reviewed_at=now,
                    submitted_by_id=1, submitted_at=now)
        database.execute_sql(f'UPDATE "license" SET "current_id" = {database.param} WHERE "id" = 1', [2])
        _insert(database, "reminder", id=1, license_id=1, expires_on=today + timedelta(days=20),
                kind="expiry-30-days", status="sent", recipient="pat@northwind.example", attempts=2,
                last_error="", claim_token=None, claimed_at=None, sent_at=now, created_at=now)
        for attempt_id, outcome, error in ((1, "failed", "451 try later"), (2, "sent", "")):
            _insert(database, "reminderattempt", id=attempt_id, reminder_id=1, license_id=1,
                    expires_on=today + timedelta(days=20), recipient="pat@northwind.example",
                    attempted_at=now, outcome=outcome, error=error)
        if ON_POSTGRES:  # the first release's inserts went through the sequences
            for table in FIRST_RELEASE_TABLES:
                database.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                )


def _rows(database):
    """Every first-release column of every row, normalised so SQLite and PostgreSQL compare alike."""
    def plain(value):
        return bytes(value) if isinstance(value, memoryview) else value

    return {
        table: [tuple(plain(v) for v in row)
                for row in database.execute_sql(f'SELECT {columns} FROM "{table}" ORDER BY id').fetchall()]
        for table, columns in FIRST_RELEASE_TABLES.items()
    }


def _app(url):
    return create_app(TestConfig, DATABASE_URL=url, WTF_CSRF_ENABLED=False)


def test_first_release_database_upgrades_keeping_every_row(blank_url, blank):
    today = date.today()
    _load_first_release_schema(blank)
    _fill_first_release(blank, today)
    before = _rows(blank)
    app = _app(blank_url)

    result = app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0001_baseline (recorded, not run" in result.output
    after = _rows(blank)
    assert after == before
    for _, _, content, sha256, size, *_ in after["proofdocument"]:
        assert hashlib.sha256(content).hexdigest() == sha256 and len(content) == size
    assert all(applied for _, applied in schema.status(blank))

    again = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert again.exit_code == 0 and "0 migration(s) applied" in again.output
    assert _rows(blank) == before

    client = app.test_client()
    assert client.post("/login", data={"email": "pat@northwind.example", "password": PASSWORD}).status_code == 302
    page = client.get("/licenses")
    assert page.status_code == 200
    words = " ".join(page.text.split())
    assert "Office 365 E3" in words and "your 25 BYOL users" in words
    history = client.get("/licenses/1")
    assert history.status_code == 200 and "Blurry scan" in history.text
    assert client.get("/proofs/1").data == demo_pdf("First proof")
    # The audit trail starts with what the first release knew: each upload, each review (0005 made
    # the reviews from the versions), marked as backfilled.
    assert _audit_entries(blank) == [
        ("proof.uploaded", 1, "pat@northwind.example", 1, "Office 365 E3", {},
         {"file": "old.pdf", "bytes": len(demo_pdf("First proof")), "expires_on": (today + timedelta(days=20)).isoformat(),
          "backfilled": True}),
        ("proof.uploaded", 1, "pat@northwind.example", 1, "Office 365 E3", {},
         {"file": "renewed.pdf", "bytes": len(demo_pdf("Renewed proof")),
          "expires_on": (today + timedelta(days=200)).isoformat(), "backfilled": True}),
        ("proof.reviewed", None, "unknown (recorded before the audit trail)", 1, "Office 365 E3",
         {"review_status": "pending"}, {"review_status": "rejected", "review_reason": "Blurry scan", "backfilled": True}),
        ("proof.reviewed", None, "unknown (recorded before the audit trail)", 1, "Office 365 E3",
         {"review_status": "pending"}, {"review_status": "accepted", "review_reason": "", "backfilled": True}),
    ]
    assert all(str(at).startswith("2026-05-04 09:30:15") for at in _audit_times(blank))
    # Staff read them in the Audit log, marked.
    assert client.post("/logout").status_code == 302
    assert client.post("/login", data={"email": "staff@provider.example", "password": PASSWORD}).status_code == 302
    log = client.get("/admin/audit")
    assert log.status_code == 200 and log.text.count("(backfilled from earlier records)") == 4
    db.database.close()


def _audit_entries(database):
    rows = database.execute_sql(
        'SELECT "kind", "actor_id", "actor_label", "account_id", "subject", "before", "after" FROM "auditentry" '
        'ORDER BY "id"'
    ).fetchall()
    return [(*row[:5], json.loads(row[5] or "{}"), json.loads(row[6] or "{}")) for row in rows]


def _audit_times(database):
    return [row[0] for row in database.execute_sql('SELECT "at" FROM "auditentry"').fetchall()]


def test_the_audit_trail_migration_backfills_account_changes(blank_url, blank, tmp_path, monkeypatch):
    """A database at 0008 with staff changes of accounts: 0009 turns each into its audit entry."""
    before_audit = tmp_path / "migrations"
    # The migrations up to 0008 only: the later ones (0024's triggers, say) build on 0009's table.
    shutil.copytree(schema.MIGRATIONS_DIR, before_audit, ignore=lambda _, names: [
        name for name in names if name == "__pycache__" or (name[:4].isdigit() and int(name[:4]) >= 9)])
    _load_first_release_schema(blank)
    _fill_first_release(blank, date.today())
    schema.upgrade(blank, before_audit)
    changed_at = datetime(2026, 6, 1, 8, 0, 0)
    for previous, value, field in (("active", "suspended", "status"), ("suspended", "active", "status"),
                                   ("byol", "subscription", "enrollment")):
        _insert(blank, "accountchange", account_id=2, field=field, previous=previous, value=value,
                changed_by_id=2, changed_at=changed_at)

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0009_audit_trail" in result.output
    account_entries = [entry for entry in _audit_entries(blank) if entry[0].startswith("account.")]
    assert account_entries == [
        ("account.suspended", 2, "staff@provider.example", 2, "Fabrikam", {"status": "active"},
         {"status": "suspended", "backfilled": True}),
        ("account.reactivated", 2, "staff@provider.example", 2, "Fabrikam", {"status": "suspended"},
         {"status": "active", "backfilled": True}),
        ("account.byol_switched", 2, "staff@provider.example", 2, "Fabrikam", {"enrollment": "byol"},
         {"enrollment": "subscription", "backfilled": True}),
    ]
    db.database.close()


def test_the_billing_history_migration_backfills_each_reviewed_version(blank_url, blank):
    _load_first_release_schema(blank)
    _fill_first_release(blank, date.today())
    blank.execute_sql(
        'UPDATE "licenseversion" SET "review_status" = \'pending\', "reviewed_at" = NULL WHERE "id" = 2'
    )
    blank.execute_sql('UPDATE "licenseversion" SET "reviewed_at" = NULL WHERE "id" = 1')

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0005_billing_history" in result.output
    events = blank.execute_sql(
        'SELECT "version_id", "previous_status", "review_status", "review_reason", "reviewed_at" '
        'FROM "reviewevent" ORDER BY "id"'
    ).fetchall()
    # Version 1 was rejected (its review time lost, so its submission time stands in); 2 is pending.
    assert [tuple(row[:4]) for row in events] == [(1, "pending", "rejected", "Blurry scan")]
    assert str(events[0][4]).startswith("2026-05-04 09:30:15")
    assert blank.execute_sql('SELECT count(*) FROM "accountchange"').fetchone() == (0,)
    db.database.close()


def test_the_rate_limit_migration_keeps_every_token_and_counter(blank_url, blank, tmp_path):
    """A database at 0013: 0014 drops apitoken's window columns; each token and throttle counter stays."""
    before = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, before, ignore=shutil.ignore_patterns("__pycache__", "0014_*"))
    schema.upgrade(blank, before)
    token, created = "a token made before the upgrade", datetime(2026, 5, 4, 9, 30, 15)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    _insert(blank, "apitoken", name="invoicing", token_hash=token_hash, created_at=created, last_used_at=created,
            window_started_at=created, window_count=7)
    _insert(blank, "loginthrottle", key="f" * 64, failures=2, window_start=created)

    app = _app(blank_url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0014_api_rate_limit_counters" in result.output
    assert {c.name for c in blank.get_columns("apitoken")} == {"id", "name", "token_hash", "created_at", "last_used_at"}
    assert blank.execute_sql('SELECT "name", "token_hash" FROM "apitoken"').fetchall() == [("invoicing", token_hash)]
    assert blank.execute_sql('SELECT "key", "failures" FROM "loginthrottle"').fetchall() == [("f" * 64, 2)]
    assert app.test_client().get("/api/v1/billing", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    db.database.close()


def test_init_db_on_a_first_release_database_keeps_its_rows(blank_url, blank):
    _load_first_release_schema(blank)
    _fill_first_release(blank, date.today())
    before = _rows(blank)

    result = _app(blank_url).test_cli_runner().invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert _rows(blank) == before
    db.database.close()


def test_a_database_that_matches_nothing_known_is_refused_and_left_untouched(blank_url, blank):
    blank.execute_sql('CREATE TABLE "account" ("id" INTEGER NOT NULL PRIMARY KEY, "title" TEXT)')
    blank.execute_sql("INSERT INTO \"account\" (\"id\", \"title\") VALUES (7, 'kept')")

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code != 0
    assert "not the first release's schema, so it was left untouched" in result.output
    assert blank.get_tables() == ["account"]
    assert blank.execute_sql('SELECT "id", "title" FROM "account"').fetchall() == [(7, "kept")]
    db.database.close()


def test_a_first_release_database_missing_a_table_is_refused(blank_url, blank):
    _load_first_release_schema(blank)
    blank.execute_sql('DROP TABLE "reminderattempt"')

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code != 0 and "create table reminderattempt" in result.output
    assert schema.HISTORY_TABLE not in blank.get_tables()
    db.database.close()


BROKEN_MIGRATION = '''
from peewee import CharField, Model


def up(migrator, db):
    class HalfDone(Model):
        name = CharField()

        class Meta:
            database = db
            table_name = "half_done"

    db.create_tables([HalfDone])
    migrator.migrate(migrator.add_column("account", "nickname", CharField(default="")))
    raise RuntimeError("the disk is full")
'''


@pytest.fixture
def broken_migrations(tmp_path, monkeypatch):
    """The real migrations followed by one that changes the schema and then fails."""
    directory = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "0999_broken.py").write_text(BROKEN_MIGRATION)
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", directory)
    return directory


def test_a_failing_migration_leaves_the_database_as_it_was(blank_url, blank, broken_migrations):
    runner = _app(blank_url).test_cli_runner()

    result = runner.invoke(args=["db", "upgrade"])

    assert result.exit_code != 0
    assert "Migration 0999_broken failed and was rolled back: the disk is full" in result.output
    assert "half_done" not in blank.get_tables()
    assert "nickname" not in [c.name for c in blank.get_columns("account")]
    # What came before it was applied and recorded; the broken one stays pending.
    statuses = dict(schema.status(blank))
    assert statuses["0999_broken"] is None
    assert all(applied for name, applied in statuses.items() if name != "0999_broken")
    status = runner.invoke(args=["db", "status"])
    assert status.exit_code == 1 and "pending" in status.output and "0999_broken" in status.output
    db.database.close()


def test_db_status_lists_applied_and_pending(blank_url, blank):
    runner = _app(blank_url).test_cli_runner()

    pending = runner.invoke(args=["db", "status"])
    assert pending.exit_code == 1
    assert "pending" in pending.output and "0001_baseline" in pending.output

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    applied = runner.invoke(args=["db", "status"])
    assert applied.exit_code == 0 and "pending" not in applied.output
    assert all(line.startswith("applied ") for line in applied.output.splitlines())
    db.database.close()


def test_db_new_drafts_the_next_migration_from_the_models(blank_url, blank, tmp_path, monkeypatch):
    from peewee import CharField

    directory = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", directory)
    runner = _app(blank_url).test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    Account._meta.add_field("nickname", CharField(max_length=40, default=""))
    try:
        result = runner.invoke(args=["db", "new", "account nickname"])
    finally:
        Account._meta.remove_field("nickname")

    assert result.exit_code == 0, result.output
    drafts = sorted(directory.glob("*_account_nickname.py"))
    assert len(drafts) == 1
    assert "migrator.add_column('account', 'nickname', CharField(max_length=40, default=''))" in drafts[0].read_text()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert "nickname" in [c.name for c in blank.get_columns("account")]
    db.database.close()



def test_the_license_expiry_migration_copies_each_current_expiration_date(blank_url, blank):
    """0013 gives every existing license its current version's expiration date and seats, which the timeline reads."""
    _load_first_release_schema(blank)
    today = date.today()
    _fill_first_release(blank, today)
    _insert(blank, "license", id=2, account_id=1, product_id=1, plan="Office 365 E1", plan_key="office 365 e1",
            created_at=datetime(2026, 1, 1), current_id=None)
    blank.execute_sql('UPDATE "licenseversion" SET "seats" = 30 WHERE "id" = 2')  # the renewal changed the seats

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0013_license_expires_on" in result.output
    rows = blank.execute_sql('SELECT "id", "expires_on", "seats" FROM "license" ORDER BY "id"').fetchall()
    # License 1's current version is its renewal (version 2), not the first one; license 2 has none.
    assert [(row[0], str(row[1]) if row[1] else None, row[2]) for row in rows] == [
        (1, str(today + timedelta(days=200)), 30), (2, None, None)]
    db.database.close()


# -- hostile audit, round three --------------------------------------------------------------------

def _refused(database, sql, params=()):
    """True when the database refuses the statement (rolled back to a savepoint, so the test goes on)."""
    from peewee import DatabaseError

    try:
        with database.atomic():
            database.execute_sql(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_billing_day_migration_brings_stray_days_into_range_and_adds_the_check(blank_url, blank):
    """0023: a billing day outside 1..31 (a manual UPDATE, an import) becomes the day the rules read it as,
    and from then on the database itself refuses one, whatever writes the row."""
    _load_first_release_schema(blank)
    _fill_first_release(blank, date.today())
    _insert(blank, "account", id=3, name="Contoso", status="active", byol_enrolled=True, billing_day=0,
            created_at=datetime(2026, 1, 1))
    _insert(blank, "account", id=4, name="Litware", status="active", byol_enrolled=True, billing_day=45,
            created_at=datetime(2026, 1, 1))

    result = _app(blank_url).test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "0023_billing_day_check" in result.output
    days = blank.execute_sql('SELECT "id", "billing_day" FROM "account" ORDER BY "id"').fetchall()
    assert [tuple(row) for row in days] == [(1, 15), (2, 31), (3, 1), (4, 31)]
    for day in (0, 32, -1):
        assert _refused(blank, f'UPDATE "account" SET "billing_day" = {day} WHERE "id" = 1'), day
    for day in (1, 31):
        assert not _refused(blank, f'UPDATE "account" SET "billing_day" = {day} WHERE "id" = 1'), day
    # The users that point at the rebuilt table (SQLite) still do, and the foreign keys still hold.
    assert blank.execute_sql('SELECT count(*) FROM "user" WHERE "account_id" = 1').fetchone()[0] == 1
    assert _refused(blank, 'INSERT INTO "user" ("email", "name", "password_hash", "account_id", "is_admin", '
                           '"is_authorized", "created_at") VALUES (\'x@y.example\', \'\', \'!\', 999, '
                           f'{blank.param}, {blank.param}, {blank.param})', (False, False, datetime(2026, 1, 1)))
    db.database.close()


def test_a_schema_made_from_the_models_refuses_a_billing_day_out_of_range_too(blank):
    with blank.bind_ctx(MODELS):
        blank.create_tables(MODELS)
    assert _refused(blank, 'INSERT INTO "account" ("name", "status", "byol_enrolled", "billing_day", "created_at") '
                           f"VALUES ('Contoso', 'active', {blank.param}, 32, {blank.param})", (True, datetime(2026, 1, 1)))
    _drop_everything(blank)


SLOW_MIGRATION = '''"""Takes its time, and notes each run of it in a file, so a test can count them."""
import os
import time


def up(migrator, db):
    with open(os.environ["MIGRATION_RUNS"], "a") as runs:
        runs.write(f"{os.getpid()}\\n")
    time.sleep(2)
'''

UPGRADE_PROCESS = """
import sys
from webapp import migrations as schema
from webapp.core.database import open_database

database = open_database(sys.argv[1])
database.connect()
try:
    applied = schema.upgrade(database, sys.argv[2])
except schema.SchemaError as error:
    print(f"refused: {error}")
    sys.exit(1)
print(f"applied {len(applied)}")
"""


def test_two_upgrades_at_once_apply_each_migration_once(blank_url, blank, tmp_path):
    """Two real processes run the upgrade at the same moment (two servers deploying): the second waits
    for the first's lock, then finds nothing left to do; no migration runs twice."""
    import os
    import subprocess
    import sys
    import time

    directory = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "0999_slow.py").write_text(SLOW_MIGRATION)
    runs = tmp_path / "runs.txt"
    runs.touch()
    env = {**os.environ, "MIGRATION_RUNS": str(runs), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-c", UPGRADE_PROCESS, blank_url, str(directory)]

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not runs.read_text() and time.monotonic() < deadline:  # the first is inside the slow migration
        time.sleep(0.02)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [process.communicate(timeout=120)[0] for process in (first, second)]

    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    expected = len(list(directory.glob("[0-9]*.py")))
    assert [output.strip().splitlines()[-1] for output in outputs] == [f"applied {expected}", "applied 0"], outputs
    assert len(runs.read_text().splitlines()) == 1
    assert all(applied for _, applied in schema.status(blank, directory))
