"""Benchmark of the billing report at 10k accounts: the CLI's run time and memory, SQL statements, the JSON API.

    .venv/bin/python bench/billing_report.py                  # 10k accounts x 25 licenses on a fresh SQLite file
    .venv/bin/python bench/billing_report.py --quick          # 200 accounts, 3 s runs: a smoke check
    .venv/bin/python bench/billing_report.py --database-url postgresql://postgres@127.0.0.1:5432/bench_billing

Seeds the database (bench/seed.py), adds billing history (rejections and enrollment switches made
after this month's cycles started), then:
1. runs `flask billing-report --format csv` in a fresh process, for next month and for this month
   (a started cycle, read from history), and reports wall time, peak RSS and the rows it printed;
2. counts the SQL statements of the report in-process, for every account and for one (the same
   number means it does not grow with accounts);
3. serves the portal and bench/hello_app.py under the same gunicorn settings and runs wrk against
   GET /api/v1/billing?per_page=100 (a page in the middle) with a bearer token, and against hello
   world; prints requests/s and their ratio.
"""
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.portal_page import (  # noqa: E402
    RESULTS,
    Gunicorn,
    http_get,
    load_arguments,
    parsed,
    peewee_statements,
    require_wrk,
    run_bench,
    run_wrk,
)
from bench.seed import seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402

GNU_TIME = "/usr/bin/time"


def parse_args(argv):
    parser = load_arguments(__doc__)
    return parsed(parser, argv)


def add_history(app, today):
    """Rejections and enrollment switches after this month's cycles began: the started cycle must read history."""
    from webapp.accounts import store as account_store
    from webapp.accounts.models import Account, AccountChange
    from webapp.extensions import db
    from webapp.licenses.models import LicenseVersion
    from webapp.review.models import ReviewEvent

    with app.app_context(), db.database.connection_context():
        versions = [v for (v,) in LicenseVersion.select(LicenseVersion.id).order_by(LicenseVersion.id).tuples()]
        accounts = [a for (a,) in Account.select(Account.id).order_by(Account.id).tuples()]
        later = datetime.combine(today.replace(day=1), datetime.min.time()) + timedelta(days=27, hours=1)
        with db.database.atomic():
            for version_id in versions[::97]:
                account_store.review_version(version_id, LicenseVersion.REJECTED, "benchmark")
            for account_id in accounts[::13]:
                account_store.set_enrollment(account_id, False)
            # As if staff had acted late in the month, after most cycles had started.
            ReviewEvent.update(reviewed_at=later).execute()
            AccountChange.update(changed_at=later).execute()
        return len(versions[::97]), len(accounts[::13])


def run_cli(env, cycle=None):
    """(seconds, peak RSS in MB, lines printed) of one `flask billing-report --format csv` in a fresh process.

    GNU time reports the peak RSS: a child forked from this process (which seeded the database and
    is large) would otherwise be charged this process's memory at the fork.
    """
    command = [sys.executable, "-m", "flask", "billing-report", "--format", "csv"] + (["--cycle", cycle] if cycle else [])
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.monotonic()
        process = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss.name] + command, cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        lines = sum(1 for _ in process.stdout)
        process.wait()
        seconds = time.monotonic() - started
        if process.returncode != 0:
            raise RuntimeError(f"flask billing-report exited {process.returncode}")
        peak_kb = int(rss.read().split()[-1])
    return seconds, peak_kb / 1024, lines


def count_statements(app, today, one_account):
    """SQL statements of the whole report and of a report for one account."""
    from webapp.billing import report as billing_report
    from webapp.billing.rules import next_cycle
    from webapp.extensions import db

    counts = {}
    with app.app_context(), db.database.connection_context():
        for label, search in (("every account", None), ("one account", one_account)):
            with peewee_statements() as statements:
                report = billing_report.billing_report(*next_cycle(today), today, "UTC", search=search)
            counts[label] = (len(statements), len(report.rows))
    return counts


def main(argv=None):
    args = parse_args(argv)
    require_wrk()
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("GNU time is not installed; install it with: apt-get install -y time")

    run_bench(args, "billing", run)


def run(args, database_url, stamp):
    from webapp import create_app
    from webapp.billing import api_tokens
    from webapp.extensions import db

    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"Database: {database_url.split('@')[-1]}")
    seeded = seed(database_url, args.accounts, args.per_account, today, users=False)
    print(f"Seeded {seeded.accounts} accounts x {seeded.licenses_per_account} licenses = {seeded.licenses} "
          f"in {seeded.seconds} s")
    app = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, SECRET_KEY=secrets.token_hex(16))
    rejected, switched = add_history(app, today)
    print(f"History: {rejected} rejections, {switched} enrollment switches, dated after this month's cycle starts")
    with app.app_context(), db.database.connection_context():
        token = api_tokens.create_token(f"bench {stamp} {os.getpid()}")

    portal_env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32),
                      SESSION_COOKIE_SECURE="false", DATABASE_URL=database_url, DATABASE_POOL="true",
                      API_RATE_LIMIT=str(10**9))
    this_month = f"{today.year}-{today.month:02d}"
    cli = {"next month (default)": run_cli(portal_env), f"{this_month} (started)": run_cli(portal_env, this_month)}
    statements = count_statements(app, today, f"Bench Account {seeded.last_account_id}")

    page = max(1, args.accounts // 100 // 2)
    path = f"/api/v1/billing?per_page=100&page={page}"
    results = {}
    with ExitStack() as servers:
        portal = servers.enter_context(Gunicorn("wsgi:app", ROOT, portal_env, args,
                                                RESULTS / f"gunicorn-portal-{stamp}.log"))
        hello = servers.enter_context(Gunicorn("hello_app:app", BENCH, dict(os.environ), args,
                                               RESULTS / f"gunicorn-hello-{stamp}.log"))
        headers = {"Authorization": f"Bearer {token}"}
        status, _, body = http_get(portal.port, path, headers)
        if status != 200 or body.count(b'"account_id"') != 100:
            raise RuntimeError(f"GET {path} gave {status} with {body.count(b'account_id')} rows")
        size = len(body)
        targets = [("API page of 100", portal.port, path, headers), ("hello world", hello.port, "/", {})]
        for _, port, target, target_headers in targets:
            if args.warmup:
                run_wrk(port, target, target_headers, args, args.warmup)
        for _ in range(args.rounds):
            for label, port, target, target_headers in targets:
                rps, requests, p50, p99, not_ok, _, output = run_wrk(port, target, target_headers, args, args.duration)
                if not_ok:
                    raise RuntimeError(f"{label}: {not_ok} responses were not 200\n{output}")
                results.setdefault(label, []).append((rps, p50, p99))

    print()
    print("flask billing-report --format csv (fresh process):")
    for label, (seconds, rss, lines) in cli.items():
        print(f"  {label:<24} {seconds:6.2f} s wall  peak RSS {rss:6.1f} MB  {lines - 1} rows")
    print("SQL statements of the report:")
    for label, (count, rows) in statements.items():
        print(f"  {label:<24} {count} statements for {rows} rows")
    print(f"API GET {path} ({size} bytes), gunicorn {args.workers} {args.worker_class} workers, "
          f"wrk -t{args.wrk_threads} -c{args.wrk_connections} -d{args.duration}s, {args.rounds} round(s):")
    hello = statistics.median(r[0] for r in results["hello world"])
    for label, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        p50, p99 = sorted(runs)[len(runs) // 2][1:]
        ratio = "" if label == "hello world" else f"  ratio {rps / hello:.3f}"
        print(f"  {label:<24} {rps:8.1f} req/s  p50 {p50:>8}  p99 {p99:>8}{ratio}")


if __name__ == "__main__":
    main()
