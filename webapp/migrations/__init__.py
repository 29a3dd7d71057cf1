"""Schema migrations: Peewee's `playhouse.migrations` runner over the numbered files in this package.

Each numbered file there is one model change; the runner applies the pending ones in order, each
in its own transaction, and records them in the `schema_migration` table. A database that the
first release created (its tables, no record) is recognised and recorded as being at the baseline.
"""
from pathlib import Path

from peewee import DatabaseError
from playhouse.migrations import Migration, Runner, template
from playhouse.schema_diff import diff_models

from ..accounts.models import Account, AccountChange, User
from ..audit.models import AuditEntry
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
from ..microsoft365.models import ConsentRequest, TenantLink, TenantSnapshot
from ..reminders.models import Reminder, ReminderAttempt, ReminderRunLog
from ..review.models import ReviewEvent

# Every model of every feature: what `flask db new` drafts a migration against, and what the tests
# compare the migrated schema with.
MODELS = [
    Account, User, Product, ProofDocument, License, LicenseVersion, Reminder, ReminderAttempt,
    LoginSession, Counter, AccountChange, ReviewEvent, ApiToken, CalendarFeed, RecoveryCode,
    AccessToken, ReminderRunLog, AuditEntry, ProofCheck, DocumentReading,
    ProofPreview,
    TenantLink, TenantSnapshot, ConsentRequest,
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


def upgrade(database, directory=None):
    """Apply every pending migration in order; returns what was done (empty when up to date)."""
    directory = directory or MIGRATIONS_DIR
    runner = _runner(database, directory)
    applied = _adopt_first_release(database, runner, directory)
    for migration in runner.status():
        if migration.applied or migration.path is None:
            continue
        try:
            # One at a time through the runner, so a failure names its migration.
            applied += runner.up(migration.name)
        except Exception as error:
            raise SchemaError(f"Migration {migration.name} failed and was rolled back: {error}") from error
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
