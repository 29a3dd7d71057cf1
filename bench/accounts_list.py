"""Benchmark of the staff accounts list at 10,000 accounts against hello world (goal: >= 0.25 of its requests/s).

    .venv/bin/python bench/accounts_list.py                # 10k accounts x 25 licenses on a fresh SQLite file
    .venv/bin/python bench/accounts_list.py --quick        # 200 accounts, 3 s runs: a smoke check
    .venv/bin/python bench/accounts_list.py --database-url postgresql://postgres@127.0.0.1:5432/bench_accounts
    .venv/bin/python bench/accounts_list.py --app-root /tmp/base   # serve another checkout (a baseline)

Seeds the database (bench/seed.py, 1,000 licenses expiring within 30 days), rejects every 97th
license's proof, suspends every 17th account and switches every 13th to subscription, adds a staff
admin with an authenticator, then serves the portal (wsgi:app, production settings, second factor
required) and bench/hello_app.py under the same gunicorn settings. It signs in through the real
login and code forms and runs wrk against GET /admin/ (the first page: the goal), its htmx list,
the list sorted by earliest expiration and the lapsed filter, and hello world. Prints requests/s,
gunicorn worker CPU per request, the ratio to hello world (goal >= 0.25) and the SQL statements of
each page, counted in-process.
"""
import http.client
import os
import re
import secrets
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.portal_page import (  # noqa: E402
    RESULTS,
    Gunicorn,
    cpu_seconds,
    http_get,
    load_arguments,
    log_in,
    parsed,
    peewee_statements,
    require_wrk,
    run_bench,
    run_wrk,
    session_cookie,
)
from bench.seed import seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402

RATIO_GOAL = 0.25
ADMIN_EMAIL = "staff@bench.example"
ADMIN_PASSWORD = "bench-admin-password"
ROW_PATTERN = re.compile(rb'<tr>\s*<td><a href="/admin/accounts/\d+"')
PAGES = {
    "first page": "/admin/",
    "first page, htmx list": "/admin/",
    "sorted by earliest expiration": "/admin/?sort=expiration",
    "lapsed filter": "/admin/?filter=lapsed",
}
GOAL_PAGE = "first page"


def parse_args(argv):
    parser = load_arguments(__doc__)
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="serve wsgi:app from this checkout (default: this one), e.g. a baseline worktree")
    return parsed(parser, argv)


def prepare(database_url, today):
    """Vary the seeded accounts so every filter matches some, and add the admin; return the TOTP secret."""
    from webapp import create_app
    from webapp.accounts.models import Account, User
    from webapp.extensions import db
    from webapp.identity import two_factor
    from webapp.licenses.models import License, LicenseVersion

    app = create_app(Config, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(16))
    secret = two_factor.new_secret()
    with app.app_context(), db.database.connection_context(), db.database.atomic():
        current = [v for (v,) in License.select(License.current).tuples()]
        accounts = [a for (a,) in Account.select(Account.id).tuples()]
        LicenseVersion.update(review_status=LicenseVersion.ACCEPTED).where(
            LicenseVersion.id.in_(License.select(License.current))).execute()
        for ids, change in (
            ([v for v in current if v % 97 == 0], LicenseVersion.update(review_status=LicenseVersion.REJECTED)),
            ([v for v in current if v % 89 == 0], LicenseVersion.update(review_status=LicenseVersion.PENDING)),
            ([a for a in accounts if a % 17 == 0], Account.update(status=Account.SUSPENDED)),
            ([a for a in accounts if a % 13 == 0], Account.update(byol_enrolled=False)),
        ):
            key = LicenseVersion.id if change.model is LicenseVersion else Account.id
            for start in range(0, len(ids), 500):
                change.where(key.in_(ids[start:start + 500])).execute()
        admin = User(email=ADMIN_EMAIL, is_admin=True, name="Bench Staff", totp_secret=secret)
        admin.set_password(ADMIN_PASSWORD)
        admin.save()
    with app.app_context(), db.database.connection_context():
        # The updates above rewrote most version rows; statistics as autovacuum would leave them.
        db.database.execute_sql("VACUUM ANALYZE" if db.database.__class__.__name__.startswith("Postgres") else "ANALYZE")
    return app, secret


def count_statements(app, secret):
    """{page: (statements, rows)} for each page, in-process, signed in with the code."""
    import pyotp

    app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
    client = app.test_client()
    assert client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status_code == 302
    response = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, f"the in-process code was refused: {response.status_code}"
    counts = {}
    for label, path in PAGES.items():
        headers = {"HX-Request": "true"} if "htmx" in label else {}
        with peewee_statements() as statements:
            response = client.get(path, headers=headers)
        counts[label] = (len(statements), len(ROW_PATTERN.findall(response.data)))
    from webapp.accounts.models import User
    from webapp.extensions import db

    with app.app_context(), db.database.connection_context():
        # The served login below may fall in the same 30-s step, which would be refused as a replay.
        User.update(totp_last_step=None).where(User.email == ADMIN_EMAIL).execute()
    return counts


def post_form(port, path, fields, cookie):
    """(status, headers) of a form POST with the session cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=urlencode(fields), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        connection.close()


def sign_in_with_code(port, secret):
    """Log the admin in through the login form, then the code form; return the Cookie header value."""
    import pyotp

    cookie = log_in(port, ADMIN_EMAIL, ADMIN_PASSWORD)
    status, headers, body = http_get(port, "/login/code", {"Cookie": cookie})
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    if status != 200 or not token:
        raise RuntimeError(f"GET /login/code gave {status} without a CSRF token")
    cookie = session_cookie(headers) or cookie
    status, headers = post_form(port, "/login/code", {
        "csrf_token": token.group(1).decode(), "code": pyotp.TOTP(secret).now(), "next": ""}, cookie)
    if status != 302:
        raise RuntimeError(f"the code was refused: {status}")
    return session_cookie(headers) or cookie


def check_pages(port, cookie, per_page):
    """Size in bytes of each page, after checking it answers 200 with a full page of rows."""
    sizes = {}
    for label, path in PAGES.items():
        headers = {"Cookie": cookie, **({"HX-Request": "true"} if "htmx" in label else {})}
        status, _, body = http_get(port, path, headers)
        rows = len(ROW_PATTERN.findall(body))
        if status != 200 or not rows or (label == GOAL_PAGE and rows != per_page):
            raise RuntimeError(f"GET {path} {headers.keys()} gave {status} with {rows} rows")
        if ("HX-Request" in headers) == (b"<html" in body):
            raise RuntimeError(f"{label}: the htmx request got the full page, or the page lacks its layout")
        sizes[label] = len(body)
    return sizes


def main(argv=None):
    args = parse_args(argv)
    require_wrk()
    run_bench(args, "accounts", run)


def run(args, database_url, stamp):
    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"Database: {database_url.split('@')[-1]}; serving {args.app_root}")
    seeded = seed(database_url, args.accounts, args.per_account, today, due=min(1000, args.accounts), users=False)
    print(f"Seeded {seeded.accounts} accounts x {seeded.licenses_per_account} licenses = {seeded.licenses} "
          f"in {seeded.seconds} s")
    app, secret = prepare(database_url, today)
    counts = count_statements(app, secret)

    portal_env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32),
                      SESSION_COOKIE_SECURE="false", DATABASE_URL=database_url, DATABASE_POOL="true",
                      ADMIN_2FA_REQUIRED="true")
    results = {}
    with ExitStack() as servers:
        portal = servers.enter_context(Gunicorn("wsgi:app", args.app_root, portal_env, args,
                                                RESULTS / f"gunicorn-accounts-{stamp}.log"))
        hello = servers.enter_context(Gunicorn("hello_app:app", BENCH, dict(os.environ), args,
                                               RESULTS / f"gunicorn-hello-{stamp}.log"))
        cookie = sign_in_with_code(portal.port, secret)
        sizes = check_pages(portal.port, cookie, 50)
        targets = [(label, portal.port, path, {"Cookie": cookie, **({"HX-Request": "true"} if "htmx" in label else {})})
                   for label, path in PAGES.items()]
        targets.append(("hello world", hello.port, "/", {}))
        for _, port, path, headers in targets:
            if args.warmup:
                run_wrk(port, path, headers, args, args.warmup)
        masters = {portal.port: portal.process.pid, hello.port: hello.process.pid}
        for _ in range(args.rounds):
            for label, port, path, headers in targets:
                cpu_before = cpu_seconds(masters[port])
                rps, requests, p50, p99, not_ok, socket_errors, output = run_wrk(port, path, headers, args, args.duration)
                cpu_ms = (cpu_seconds(masters[port]) - cpu_before) * 1000 / max(requests, 1)
                if not_ok:
                    raise RuntimeError(f"{label}: {not_ok} responses were not 200\n{output}")
                results.setdefault(label, []).append((rps, cpu_ms, p50, p99))
    report(args, counts, sizes, results)


def report(args, counts, sizes, results):
    print()
    print(f"gunicorn: {args.workers} workers, worker class {args.worker_class}, {args.threads} thread(s); "
          f"wrk -t{args.wrk_threads} -c{args.wrk_connections} -d{args.duration}s, {args.rounds} round(s); "
          f"{os.cpu_count()} CPUs; {args.accounts} accounts")
    hello_rps = statistics.median(r[0] for r in results["hello world"])
    hello_cpu = statistics.median(r[1] for r in results["hello world"])
    for label, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        cpu_ms = statistics.median(r[1] for r in runs)
        p50, p99 = sorted(runs)[len(runs) // 2][2:]
        extra = "" if label == "hello world" else (
            f"  ratio {rps / hello_rps:.3f}  SQL {counts[label][0]}  {sizes[label]:,} bytes")
        print(f"  {label:<30} {rps:8.1f} req/s  p50 {p50:>8}  p99 {p99:>8}  worker CPU {cpu_ms:6.2f} ms/req{extra}")
    ratio = statistics.median(r[0] for r in results[GOAL_PAGE]) / hello_rps
    cpu_ratio = hello_cpu / statistics.median(r[1] for r in results[GOAL_PAGE])
    print(f"Ratio (first page / hello world): {ratio:.3f} - goal >= {RATIO_GOAL}: {'met' if ratio >= RATIO_GOAL else 'NOT met'}")
    print(f"  (worker CPU per request, hello world / first page: {cpu_ratio:.3f})")


if __name__ == "__main__":
    main()
