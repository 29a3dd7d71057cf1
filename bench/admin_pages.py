"""Benchmark of two staff pages, the billing report page and the review queue, against hello world at scale.

    .venv/bin/python bench/admin_pages.py --quick          # 200 accounts, 3 s runs: a smoke check
    .venv/bin/python bench/admin_pages.py --rounds 3       # 10k accounts x 25 licenses on a fresh SQLite file
    .venv/bin/python bench/admin_pages.py --database-url postgresql://postgres@127.0.0.1:5432/bench_admin
    .venv/bin/python bench/admin_pages.py --app-root /tmp/base   # serve another checkout (a baseline)

Seeds with bench/seed.py, then makes the review state realistic: every version accepted except the
--pending latest submissions, which wait in the queue. A staff admin with an authenticator signs in
through the real forms (password, then the TOTP code; production settings, two-factor required).
wrk runs against GET /admin/billing (first page: 50 accounts of the next cycle), GET /admin/reviews
and hello world under the same gunicorn settings, alternating for --rounds. Prints requests/s, the
ratio to hello world (goal >= 0.25), gunicorn's worker CPU per request, and the SQL statements of each
page in-process for the whole database and for a tenth of it (goal: the same number).
"""
import os
import re
import secrets
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyotp  # noqa: E402

from bench.portal_page import (  # noqa: E402
    RESULTS,
    Gunicorn,
    cpu_seconds,
    http_get,
    load_arguments,
    parsed,
    peewee_statements,
    require_wrk,
    run_bench,
    run_wrk,
    session_cookie,
)
from bench.seed import BENCH_PASSWORD, seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402

RATIO_GOAL = 0.25
ADMIN_EMAIL = "staff@bench.example"
PAGES = {"billing report page": "/admin/billing", "review queue": "/admin/reviews"}
ROW_PATTERNS = {"/admin/billing": re.compile(rb"<tr data-account-id="), "/admin/reviews": re.compile(rb'<tr id="review-')}


def _app(database_url):
    from webapp import create_app

    return create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, SECRET_KEY=secrets.token_hex(16))


def leave_in_queue(database_url, pending):
    """Accept every license version but the `pending` latest, which wait in the review queue."""
    from webapp.core.clock import utcnow
    from webapp.licenses.models import LicenseVersion

    app = _app(database_url)
    database = app.config["DATABASE"]
    with app.app_context(), database.connection_context():
        with database.atomic():
            latest = LicenseVersion.select(LicenseVersion.id).order_by(LicenseVersion.id.desc()).limit(pending)
            LicenseVersion.update(review_status=LicenseVersion.ACCEPTED, reviewed_at=utcnow()).where(
                LicenseVersion.id.not_in(latest)
            ).execute()
        database.execute_sql("ANALYZE")


def new_staff_admin(database_url):
    """A staff admin with a new authenticator (each sign-in needs a code of its own); returns the TOTP secret."""
    from webapp.accounts.models import User

    app = _app(database_url)
    secret = pyotp.random_base32()
    with app.app_context(), app.config["DATABASE"].connection_context():
        User.delete().where(User.email == ADMIN_EMAIL).execute()
        admin = User(email=ADMIN_EMAIL, name="Bench Staff", is_admin=True, totp_secret=secret)
        admin.set_password(BENCH_PASSWORD)
        admin.save()
    return secret


def form_token(body):
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    if not token:
        raise RuntimeError("no CSRF token on the form")
    return token.group(1).decode()


def post_form(port, path, fields, cookie):
    import http.client
    from urllib.parse import urlencode

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=urlencode(fields), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        })
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        connection.close()


def staff_log_in(port, secret):
    """Password, then the authenticator's code, through the real forms; returns the Cookie header value."""
    status, headers, body = http_get(port, "/login")
    cookie = session_cookie(headers)
    status, headers = post_form(port, "/login", {
        "csrf_token": form_token(body), "email": ADMIN_EMAIL, "password": BENCH_PASSWORD, "next": "",
    }, cookie)
    cookie = session_cookie(headers) or cookie
    if status != 302 or "/login/code" not in headers.get("Location", ""):
        raise RuntimeError(f"staff password step gave {status} {headers.get('Location')}")
    status, _, body = http_get(port, "/login/code", {"Cookie": cookie})
    status, headers = post_form(port, "/login/code", {
        "csrf_token": form_token(body), "code": pyotp.TOTP(secret).now(), "next": "",
    }, cookie)
    if status != 302:
        raise RuntimeError(f"staff code step gave {status}")
    return session_cookie(headers) or cookie


def count_statements(database_url, secret, paths):
    """{path: statements} for one GET each, in-process (test client), signed in as the staff admin."""
    from webapp import create_app

    app = create_app(Config, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(16),
                     WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
    client = app.test_client()
    assert client.post("/login", data={"email": ADMIN_EMAIL, "password": BENCH_PASSWORD}).status_code == 302
    assert client.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    counts = {}
    for path in paths:
        with peewee_statements() as statements:
            response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"in-process GET {path} gave {response.status_code}")
        counts[path] = list(statements)
    return counts


def check_pages(port, cookie):
    """{path: (bytes, rows)} after checking each page answers 200 with its table rows."""
    shapes = {}
    for path in PAGES.values():
        status, _, body = http_get(port, path, {"Cookie": cookie})
        rows = len(ROW_PATTERNS[path].findall(body))
        if status != 200 or not rows:
            raise RuntimeError(f"GET {path} gave {status} with {rows} rows")
        shapes[path] = (len(body), rows)
    return shapes


def parse_args(argv):
    parser = load_arguments(__doc__, time_limit=1200)
    parser.add_argument("--pending", type=int, default=50, help="latest versions left waiting in the review queue")
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="serve wsgi:app from this checkout (default: this one), e.g. a baseline worktree")
    return parsed(parser, argv)


def run(args, database_url, stamp):
    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"Database: {database_url.split('@')[-1]}; serving {args.app_root}")
    tenth = seed(database_url, max(args.accounts // 10, 1), args.per_account, today)
    leave_in_queue(database_url, args.pending)
    small = count_statements(database_url, new_staff_admin(database_url), PAGES.values())
    rest = seed(database_url, args.accounts - tenth.accounts, args.per_account, today)
    leave_in_queue(database_url, args.pending)
    print(f"Seeded {tenth.accounts + rest.accounts} accounts x {args.per_account} licenses; "
          f"{args.pending} versions await review")
    large = count_statements(database_url, new_staff_admin(database_url), PAGES.values())
    secret = new_staff_admin(database_url)

    portal_env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32),
                      SESSION_COOKIE_SECURE="false", DATABASE_URL=database_url, DATABASE_POOL="true")
    results = {}
    with ExitStack() as servers:
        portal = servers.enter_context(Gunicorn("wsgi:app", args.app_root, portal_env, args,
                                                RESULTS / f"gunicorn-admin-{stamp}.log"))
        hello = servers.enter_context(Gunicorn("hello_app:app", BENCH, dict(os.environ), args,
                                               RESULTS / f"gunicorn-hello-{stamp}.log"))
        cookie = staff_log_in(portal.port, secret)
        shapes = check_pages(portal.port, cookie)
        targets = [(label, portal.port, path, {"Cookie": cookie}) for label, path in PAGES.items()]
        targets.append(("hello world", hello.port, "/", {}))
        masters = {portal.port: portal.process.pid, hello.port: hello.process.pid}
        for _, port, path, headers in targets:
            if args.warmup:
                run_wrk(port, path, headers, args, args.warmup)
        for _ in range(args.rounds):
            for label, port, path, headers in targets:
                before = cpu_seconds(masters[port])
                rps, requests, p50, p99, not_ok, socket_errors, output = run_wrk(port, path, headers, args, args.duration)
                if not_ok:
                    raise RuntimeError(f"{label}: {not_ok} responses were not 200\n{output}")
                cpu_ms = (cpu_seconds(masters[port]) - before) * 1000 / max(requests, 1)
                results.setdefault(label, []).append((rps, cpu_ms, p50, p99))

    print()
    print(f"gunicorn: {args.workers} workers, {args.worker_class}; wrk -t{args.wrk_threads} "
          f"-c{args.wrk_connections} -d{args.duration}s, {args.rounds} round(s); {os.cpu_count()} CPUs")
    hello_rps = statistics.median(r[0] for r in results["hello world"])
    for label, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        cpu_ms = statistics.median(r[1] for r in runs)
        p50, p99 = sorted(runs)[len(runs) // 2][2:]
        ratio = "" if label == "hello world" else (
            f"  ratio {rps / hello_rps:.3f} (goal >= {RATIO_GOAL}: {'met' if rps / hello_rps >= RATIO_GOAL else 'NOT met'})")
        print(f"  {label:<22} {rps:8.1f} req/s  p50 {p50:>8}  p99 {p99:>8}  worker CPU {cpu_ms:6.2f} ms/req{ratio}")
    print(f"SQL statements per page ({tenth.accounts} accounts / {tenth.accounts + rest.accounts} accounts):")
    for label, path in PAGES.items():
        same = len(small[path]) == len(large[path])
        print(f"  {label:<22} {len(small[path])} / {len(large[path])}  {'constant' if same else 'NOT constant'}")
    print("Sizes (bytes, table rows):")
    for label, path in PAGES.items():
        print(f"  {label:<22} {shapes[path][0]} bytes, {shapes[path][1]} rows")


def main(argv=None):
    args = parse_args(argv)
    require_wrk()
    run_bench(args, "admin", run)


if __name__ == "__main__":
    main()
