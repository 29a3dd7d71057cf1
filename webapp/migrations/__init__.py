"""Schema migrations: Peewee's `playhouse.migrations` runner over the numbered files in this package.

Each numbered file there is one model change; the runner applies the pending ones in order, each
in its own transaction, and records them in the `schema_migration` table. A database that the
first release created (its tables, no record) is recognised and recorded as being at the baseline.
"""
from contextlib import contextmanager
from pathlib import Path

from peewee import DatabaseError, PostgresqlDatabase
from playhouse.migrations import Migration, Runner, template
from playhouse.schema_diff import diff_models

from ..accounts.models import Account, AccountChange, User
from ..audit.models import AuditEntry, AuditPurge
from ..billing.models import ApiToken
from ..calendar.models import CalendarFeed
from ..core.limiter import Counter
from ..identity.models import AccessToken, LoginSession, RecoveryCode
from ..licenses.models import (
    DocumentReading,
    License,
    LicenseVersion,
    Product,
    ProofCheck,
    ProofDocument,
    ProofPreview,
    add_products,
)
from ..reminders.models import Reminder, ReminderAttempt, ReminderRunLog
from ..review.models import ReviewEvent

# Every model of every feature: what `flask db new` drafts a migration against, and what the tests
# compare the migrated schema with.
MODELS = [
    Account, User, Product, ProofDocument, License, LicenseVersion, Reminder, ReminderAttempt,
    LoginSession, Counter, AccountChange, ReviewEvent, ApiToken, CalendarFeed, RecoveryCode,
    AccessToken, ReminderRunLog, AuditEntry, ProofCheck, DocumentReading,
    ProofPreview, AuditPurge,
]
MIGRATIONS_DIR = Path(__file__).resolve().parent
BASELINE = "0001_baseline"
HISTORY_TABLE = "schema_migration"


class SchemaError(Exception):
    """The database cannot be upgraded: it is not one this app knows, or a migration failed."""


def _runner(database, directory):
    return Runner(database, str(directory), table_name=HISTORY_TABLE)


def _baseline_models(database, directory):
    """The first release's frozen models, from the baseline migration itself."""
    (baseline,) = [m for m in Migration.load_directory(str(directory)) if m.name == BASELINE]
    return baseline.load().models(database)


def _adopt_first_release(database, runner, directory):
    """Record a database made by the first release as at the baseline; refuse anything unknown.

    Returns what was recorded, as the lines `upgrade` reports.
    """
    tables = set(database.get_tables())
    if HISTORY_TABLE in tables or not tables:
        return []  # migrated before, or empty: the runner knows what to do
    diff = diff_models(database, _baseline_models(database, directory))
    if diff:
        raise SchemaError(
            "The database has tables but no migration record, and they are not the first release's "
            f"schema, so it was left untouched. Differences from that schema:\n{diff}"
        )
    runner.fake(BASELINE)
    return [f"{BASELINE} (recorded, not run: the tables were made by the first release)"]


# The key of PostgreSQL's advisory lock that one upgrade holds at a time (any 64-bit number of our own).
UPGRADE_LOCK_KEY = 0x6C6963656E736573  # "licenses"


@contextmanager
def _one_upgrade_at_a_time(database):
    """Hold the database so that a second `flask db upgrade` (another server, a deploy retried) waits,
    then finds the work done, instead of applying the same migrations again.

    PostgreSQL: a session-level advisory lock, each migration still in its own transaction. SQLite:
    one exclusive transaction around every migration (each a savepoint within it); foreign keys are
    off for it, as table rebuilds need (they cannot be switched inside a transaction), and checked
    before it commits.
    """
    if isinstance(getattr(database, "obj", database), PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK_KEY,))
        return
    foreign_keys = bool(database.pragma("foreign_keys"))
    database.pragma("foreign_keys", 0)
    try:
        with database.atomic("EXCLUSIVE"):
            yield
            broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaError(f"The migrations left rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        database.pragma("foreign_keys", int(foreign_keys))


def upgrade(database, directory=None):
    """Apply every pending migration in order; returns what was done (empty when up to date).

    Two upgrades at once do not both apply: the second waits for the first (see _one_upgrade_at_a_time).
    A failing migration is rolled back alone; the ones before it stay applied.
    """
    directory = directory or MIGRATIONS_DIR
    failure = None
    with _one_upgrade_at_a_time(database):
        runner = _runner(database, directory)
        applied = _adopt_first_release(database, runner, directory)
        for migration in runner.status():
            if migration.applied or migration.path is None:
                continue
            try:
                # One at a time through the runner, so a failure names its migration.
                applied += runner.up(migration.name)
            except Exception as error:
                failure = SchemaError(f"Migration {migration.name} failed and was rolled back: {error}")
                failure.__cause__ = error
                break
    if failure is not None:
        raise failure
    return applied


def prepare(database):
    """What `flask init-db` does: upgrade, then put the product list in place; safe to run again."""
    applied = upgrade(database)
    add_products()
    return applied


def status(database, directory=None):
    """Every migration as (name, applied datetime or None); files gone from disk are included."""
    try:
        return [(m.name, m.applied) for m in _runner(database, directory or MIGRATIONS_DIR).status()]
    except DatabaseError as error:
        raise SchemaError(f"Could not read the migration record: {error}") from error


def new_migration(database, models, name, directory=None):
    """Write the next numbered migration file, drafted from the models' difference to `database`."""
    diff = diff_models(database, models)
    return _runner(database, directory or MIGRATIONS_DIR).create(name, body=template(diff) if diff else None)
