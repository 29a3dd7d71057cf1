"""Bulk seeding for benchmarks: many accounts, each with one authorized user and N licenses.

    python bench/seed.py --database-url sqlite:////tmp/bench.sqlite3 --accounts 10000 --per-account 25 [--due 10000]

Rows go in with explicit ids through multi-row inserts in one transaction, so 250k licenses take
seconds, not the hours the ORM's one-INSERT-per-object path would. Each license gets one version and
one proof document (a small valid PDF stored per row, as the portal stores uploads).
"""
import argparse
import hashlib
import io
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `config` is a top-level module of the project, not part of the installed package.
    sys.path.insert(0, str(ROOT))

from peewee import PostgresqlDatabase, SqliteDatabase  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from config import Config  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp import migrations as schema
from webapp.accounts.models import Account, User
from webapp.cli.demo import demo_pdf  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.licenses.models import License, LicenseVersion, Product, ProofDocument

BENCH_PASSWORD = "bench-password"
BENCH_DOMAIN = "bench.example"
# Far enough out to be "current" (not "expiring soon") and outside the 30-day reminder window.
FAR_FUTURE_DAYS = 365
CHUNK_ROWS = 2000
COPY_ROWS = 20000


@dataclass(frozen=True)
class SeedSummary:
    """What a seed run created, and how to log in as one of its users."""

    accounts: int
    licenses_per_account: int
    licenses: int
    due: int
    first_account_id: int
    last_account_id: int
    sample_email: str | None
    password: str
    due_from: date | None
    due_until: date | None
    seconds: float


def bench_email(account_id):
    """The email of the authorized user the seeder gives an account."""
    return f"user{account_id}@{BENCH_DOMAIN}"


def seed(database_url, accounts, licenses_per_account, today, due=0, due_within_days=30, users=True):
    """Create tables, then `accounts` accounts with one authorized user and `licenses_per_account` licenses each.

    All licenses expire far in the future except `due` of them, spread evenly over the accounts,
    which expire 1..`due_within_days` days after `today`. Safe to call again on the same database:
    new rows take ids (and names) after the ones already there.
    """
    total = accounts * licenses_per_account
    if accounts < 1 or licenses_per_account < 0:
        raise ValueError("accounts must be >= 1 and licenses_per_account >= 0")
    if not 0 <= due <= total:
        raise ValueError(f"due must be between 0 and the number of licenses ({total})")
    if due and due_within_days < 1:
        raise ValueError("due_within_days must be >= 1")

    started = time.monotonic()
    previous = db.database.obj if hasattr(db.database, "obj") else None
    app = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, SECRET_KEY=secrets.token_hex(16))
    database = app.config["DATABASE"]
    try:
        with app.app_context(), database.connection_context():
            schema.prepare(database)
            _tune_for_bulk_load(database)
            with database.atomic():
                first_account_id = _seed_rows(database, accounts, licenses_per_account, today,
                                              due, due_within_days, users)
            _after_bulk_load(database)
    finally:
        # Callers in the same process (a test app) keep the database they had bound.
        if previous is not None:
            db.database.initialize(previous)

    due_offsets = _due_offsets(due, due_within_days)
    return SeedSummary(
        accounts=accounts,
        licenses_per_account=licenses_per_account,
        licenses=total,
        due=due,
        first_account_id=first_account_id,
        last_account_id=first_account_id + accounts - 1,
        sample_email=bench_email(first_account_id) if users else None,
        password=BENCH_PASSWORD,
        due_from=today + timedelta(days=min(due_offsets)) if due else None,
        due_until=today + timedelta(days=max(due_offsets)) if due else None,
        seconds=round(time.monotonic() - started, 2),
    )


def _due_offsets(due, due_within_days):
    return [1 + n % due_within_days for n in range(min(due, due_within_days))]


def _tune_for_bulk_load(database):
    if isinstance(database, SqliteDatabase):
        # Only this connection, only for the seed: a crash mid-seed just means seeding again.
        database.execute_sql("PRAGMA synchronous = OFF")
        database.execute_sql("PRAGMA cache_size = -262144")
    elif isinstance(database, PostgresqlDatabase):
        database.execute_sql("SET synchronous_commit = off")


def _after_bulk_load(database):
    if isinstance(database, PostgresqlDatabase):
        # The rows went in with explicit ids; later inserts by the app must not reuse them.
        for model in (Account, User, ProofDocument, License, LicenseVersion):
            table = model._meta.table_name
            database.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM \"{table}\"), false)"
            )
    # Planner statistics, as a long-running production database would have them.
    database.execute_sql("ANALYZE")


def _next_id(database, model):
    cursor = database.execute_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{model._meta.table_name}"')
    return cursor.fetchone()[0] + 1


def _seed_rows(database, accounts, per_account, today, due, due_within_days, users):
    account_id = _next_id(database, Account)
    user_id = _next_id(database, User)
    proof_id = _next_id(database, ProofDocument)
    license_id = _next_id(database, License)
    version_id = _next_id(database, LicenseVersion)
    product_id = Product.get(Product.name == "MS Office 365").id
    password_hash = generate_password_hash(BENCH_PASSWORD)  # one hash: scrypt per user would take minutes

    pdf = demo_pdf("Proof of licensing: benchmark")
    sha256 = hashlib.sha256(pdf).hexdigest()
    total = accounts * per_account
    far = [today + timedelta(days=FAR_FUTURE_DAYS + n) for n in range(365)]
    soon = [today + timedelta(days=1 + n) for n in range(max(due_within_days, 1))]

    account_ids = range(account_id, account_id + accounts)
    _bulk_insert(database, Account, ("id", "name", "billing_day"), (
        (a, f"Bench Account {a}", 1 + a % 28) for a in account_ids
    ))
    if users:
        _bulk_insert(database, User, ("id", "email", "name", "password_hash", "account", "is_authorized"), (
            (user_id + n, bench_email(a), f"Bench User {a}", password_hash, a, True)
            for n, a in enumerate(account_ids)
        ))

    def owners():
        """(license index, account id, user id or None) for every license, account by account."""
        for n, a in enumerate(account_ids):
            for j in range(per_account):
                yield n * per_account + j, a, (user_id + n if users else None)

    _bulk_insert(database, ProofDocument,
                 ("id", "account", "content", "sha256", "size", "original_name", "media_type", "uploaded_by"), (
                     (proof_id + k, a, pdf, sha256, len(pdf), f"proof-{license_id + k}.pdf", "application/pdf", u)
                     for k, a, u in owners()
                 ))
    def expires_on(k):
        # `due` of the `total` licenses, evenly spaced, so they fall on as many accounts as possible.
        if due and (k + 1) * due // total != k * due // total:
            return soon[(k * due // total) % due_within_days]
        return far[k % len(far)]

    _bulk_insert(database, License, ("id", "account", "product", "plan", "plan_key", "current", "expires_on",
                                     "seats"), (
        (license_id + k, a, product_id, f"Bench Plan {k % per_account + 1:03d}",
         f"bench plan {k % per_account + 1:03d}", version_id + k, expires_on(k), 1 + k % 50)
        for k, a, _ in owners()
    ))
    _bulk_insert(database, LicenseVersion,
                 ("id", "license", "seats", "term", "expires_on", "tenant", "contact_name", "contact_email",
                  "proof", "submitted_by"), (
                     (version_id + k, license_id + k, 1 + k % 50, "Yearly", expires_on(k),
                      f"bench{a}.onmicrosoft.com", f"Bench Contact {a}", f"contact{a}@{BENCH_DOMAIN}",
                      proof_id + k, u)
                     for k, a, u in owners()
                 ))
    return account_id


def _bulk_insert(database, model, names, rows):
    """Insert tuples for the named fields; every other field gets its model default, as the ORM would."""
    fields = [model._meta.fields[name] for name in names]
    defaults = []
    for field in model._meta.sorted_fields:
        # By name: Field overloads == to build SQL, so `field in fields` is always true.
        given = field.name in names
        if given or field.default is None:
            if not given and not field.null and not field.primary_key:
                raise RuntimeError(f"{model.__name__}.{field.name} needs a value; teach bench/seed.py about it")
            continue
        value = field.default() if callable(field.default) else field.default
        defaults.append((field, field.db_value(value)))
    columns = [f.column_name for f in fields] + [f.column_name for f, _ in defaults]
    constants = tuple(value for _, value in defaults)
    converters = [f.db_value for f in fields]
    sql = 'INSERT INTO "{}" ({})'.format(model._meta.table_name, ", ".join(f'"{c}"' for c in columns))

    cursor = database.cursor()
    if isinstance(database, PostgresqlDatabase):
        # COPY is several times faster than multi-row INSERTs on PostgreSQL.
        copy = "COPY \"{}\" ({}) FROM STDIN".format(model._meta.table_name, ", ".join(f'"{c}"' for c in columns))
        constants = "\t".join(_copy_text(value) for value in constants)
        tail = ("\t" + constants if constants else "") + "\n"
        lines = []
        for row in rows:
            lines.append("\t".join(_copy_text(convert(v)) for convert, v in zip(converters, row)) + tail)
            if len(lines) >= COPY_ROWS:
                cursor.copy_expert(copy, io.StringIO("".join(lines)))
                lines = []
        if lines:
            cursor.copy_expert(copy, io.StringIO("".join(lines)))
        return

    insert = "{} VALUES ({})".format(sql, ", ".join(database.param for _ in columns))
    chunk = []
    for row in rows:
        chunk.append(tuple(convert(v) for convert, v in zip(converters, row)) + constants)
        if len(chunk) >= CHUNK_ROWS:
            cursor.executemany(insert, chunk)
            chunk = []
    if chunk:
        cursor.executemany(insert, chunk)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_hex_cache = {}


def _copy_text(value):
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if hasattr(value, "adapted"):  # psycopg2's Binary wrapper around bytes
        value = value.adapted
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        # Every proof row holds the same document: encode it once.
        if value not in _hex_cache:
            _hex_cache.clear()
            _hex_cache[value] = "\\\\x" + value.hex()
        return _hex_cache[value]
    return str(value).translate(_COPY_ESCAPES)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="sqlite:////path/file.sqlite3 or postgresql://...")
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--per-account", type=int, required=True, help="licenses per account")
    parser.add_argument("--due", type=int, default=0, help="licenses expiring within --due-within-days")
    parser.add_argument("--due-within-days", type=int, default=30)
    parser.add_argument("--no-users", action="store_true", help="seed no users")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
    args = parser.parse_args(argv)
    today = args.today or business_today(Config.BUSINESS_TIMEZONE)
    summary = seed(args.database_url, args.accounts, args.per_account, today, due=args.due,
                   due_within_days=args.due_within_days, users=not args.no_users)
    print(f"Seeded {summary.accounts} accounts x {summary.licenses_per_account} licenses "
          f"= {summary.licenses} licenses ({summary.due} due) in {summary.seconds} s.")
    print(f"Account ids {summary.first_account_id}..{summary.last_account_id}.")
    if summary.sample_email:
        print(f"Log in as {summary.sample_email} / {summary.password}")
    if summary.due:
        print(f"Due licenses expire {summary.due_from} .. {summary.due_until}.")


if __name__ == "__main__":
    main()
