"""Benchmark of the Client Licenses tab, the page customers open most, against a hello-world Flask app.

    .venv/bin/python bench/portal_page.py                 # 10k accounts x 25 licenses on a fresh SQLite file
    .venv/bin/python bench/portal_page.py --quick         # 200 accounts, 3 s runs: a smoke check
    .venv/bin/python bench/portal_page.py --database-url postgresql://postgres@127.0.0.1:5432/bench_portal
    .venv/bin/python bench/portal_page.py --rounds 3 --app-root /tmp/base   # serve another checkout (a baseline)

Seeds the database, serves the portal (wsgi:app, production settings) and bench/hello_app.py under the
same gunicorn settings on 127.0.0.1, logs in through the real login form, and runs wrk against
GET /licenses for a user whose account has 25 licenses and one whose account has 1, and against the
hello app. Prints requests/s, the ratio to hello world, the SQL queries per page (counted in-process
through the peewee logger) and the page and htmx-partial sizes.
"""
import argparse
import http.client
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    # `config` and `bench` live in the project root, which is not on the path when run as a script.
    sys.path.insert(0, str(ROOT))

from bench.seed import seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402

RESULTS = BENCH / "results"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
# Goals: requests/s against hello world's, for the tab (full page and htmx partial) and the one-license page.
RATIO_GOAL = 0.3
ONE_LICENSE_RATIO_GOAL = 0.4
QUERY_GOAL = 6
ROW_PATTERN = re.compile(rb'<tr id="license-\d+"')


def free_port():
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port, path, headers=None, timeout=10):
    """(status, headers, body) of one GET, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def session_cookie(headers):
    """The `session=...` pair from a response's Set-Cookie headers, or None."""
    for header in headers.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0]
        if pair.startswith("session="):
            return pair
    return None


def log_in(port, email, password):
    """Log in through the real form (CSRF token and all); return the Cookie header value."""
    status, headers, body = http_get(port, "/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    if status != 200 or not token or not session_cookie(headers):
        raise RuntimeError(f"GET /login gave {status} without a CSRF token or session cookie")
    form = f"csrf_token={token.group(1).decode()}&email={email}&password={password}&next="
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": session_cookie(headers),
        })
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    cookie = session_cookie(response.headers)
    if response.status != 302 or not cookie:
        raise RuntimeError(f"logging in as {email} gave {response.status}, not a redirect with a session")
    return cookie


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its children (gunicorn's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def gunicorn_has_control_socket():
    """Whether this gunicorn has the control socket (and so the --no-control-socket flag)."""
    from gunicorn.config import KNOWN_SETTINGS

    return any("--no-control-socket" in (setting.cli or ()) for setting in KNOWN_SETTINGS)


class Gunicorn:
    """A gunicorn master on 127.0.0.1:<free port>, stopped by its PID when the block ends."""

    def __init__(self, app_spec, chdir, env, settings, log_path):
        self.app_spec, self.chdir, self.env, self.settings, self.log_path = app_spec, chdir, env, settings, log_path
        self.port = free_port()
        self.process = None

    def __enter__(self):
        command = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.settings.workers), "--worker-class", self.settings.worker_class,
            "--threads", str(self.settings.threads), "--chdir", str(self.chdir), self.app_spec,
        ]
        if gunicorn_has_control_socket():
            # Newer gunicorn binds ~/.gunicorn/gunicorn.ctl by default: two masters would fight over it.
            command.append("--no-control-socket")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self._wait_until_serving(timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_serving(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app_spec} exited; see {self.log_path}")
            try:
                http_get(self.port, "/", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"gunicorn {self.app_spec} did not answer within {timeout} s; see {self.log_path}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()

    def __exit__(self, *exc):
        self.stop()


def run_wrk(port, path, headers, settings, duration):
    """Run wrk once; return (requests/s, requests, p50, p99, responses other than 200, socket errors, output)."""
    command = [WRK, f"-t{settings.wrk_threads}", f"-c{settings.wrk_connections}", f"-d{duration}s",
               "--latency", "-s", str(BENCH / "status_check.lua")]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)
    not_ok = int(re.search(r"Responses other than 200: (\d+)", output).group(1))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return rps, requests, p50, p99, not_ok, socket_errors.group(1) if socket_errors else "", output


@contextmanager
def peewee_statements():
    """Collect the SQL statements Peewee runs inside the block."""
    statements = []

    class Collector(logging.Handler):
        def emit(self, record):
            if record.name == "peewee":  # not peewee.pool's "returning connection" lines
                statements.append(record.getMessage())

    logger, handler = logging.getLogger("peewee"), Collector(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def count_page_queries(database_url, users):
    """{label: (full-page statements, partial statements)} for GET /licenses, with the test client."""
    from webapp import create_app

    app = create_app(Config, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(16),
                     WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
    counts = {}
    for label, (email, password, expected_rows) in users.items():
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, f"in-process login as {email} gave {response.status_code}"
        shapes = []
        for headers in ({}, {"HX-Request": "true"}):
            with peewee_statements() as statements:
                response = client.get("/licenses", headers=headers)
            rows = len(ROW_PATTERN.findall(response.data))
            if response.status_code != 200 or rows != expected_rows:
                raise RuntimeError(f"in-process GET /licenses as {email}: {response.status_code}, {rows} rows")
            shapes.append(list(statements))
        counts[label] = tuple(shapes)
    return counts


def check_page(port, cookie, expected_rows):
    """Sizes in bytes of the full page and the htmx partial, after checking both show the rows."""
    sizes = []
    for headers in ({"Cookie": cookie}, {"Cookie": cookie, "HX-Request": "true"}):
        status, _, body = http_get(port, "/licenses", headers)
        rows = len(ROW_PATTERN.findall(body))
        if status != 200 or rows != expected_rows:
            raise RuntimeError(f"GET /licenses {headers} gave {status} with {rows} license rows")
        if ("HX-Request" in headers) == (b"<html" in body):
            raise RuntimeError("the htmx request got the full page, or the page lacks its layout")
        sizes.append(len(body))
    return tuple(sizes)


def load_arguments(description, time_limit=900):
    """The options every load benchmark here takes: the data, gunicorn's settings and wrk's."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--database-url", help="seed into this database (default: a fresh SQLite file in bench/results/)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--per-account", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="200 accounts and 3 s runs: a smoke check")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each server's runs")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the runs this many times; report medians")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (README's production command: 4)")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=8)
    parser.add_argument("--keep-database", action="store_true", help="keep the SQLite file this run created")
    parser.add_argument("--time-limit", type=int, default=time_limit, help="give up after this many seconds")
    return parser


def parsed(parser, argv):
    """The options, with --quick's smaller data and shorter runs applied."""
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.duration, args.warmup = 200, 3, 1
    return args


def parse_args(argv):
    parser = load_arguments(__doc__)
    parser.add_argument("--no-pool", action="store_true",
                        help="serve with a new database connection per request (DATABASE_POOL=false)")
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="serve wsgi:app from this checkout (default: this one), e.g. a baseline worktree")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of each counted page")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:NAME=VALUE[,NAME=VALUE]",
                        help="also serve the portal with these settings (e.g. 'not cached:CACHE_TYPE=NullCache'), "
                             "measured in the same run, its pages labelled (LABEL)")
    return parsed(parser, argv)


def variants(args):
    """[(label, {setting: value})]: the portal as configured, then each --variant."""
    found = [("", {})]
    for text in args.variant:
        label, _, settings = text.partition(":")
        found.append((label.strip(), dict(item.split("=", 1) for item in settings.split(",") if item)))
    return found


def require_wrk():
    """Stop with the way to install wrk instead of a traceback deep inside the run."""
    if not os.access(WRK, os.X_OK):
        sys.exit("wrk is not installed; install it with: apt-get install -y wrk")


def run_bench(args, name, run):
    """Run `run(args, database_url, stamp)` within --time-limit, on --database-url or on a fresh SQLite
    file of its own under bench/results/ (removed afterwards unless --keep-database)."""
    def out_of_time(signum, frame):
        raise TimeoutError(f"the benchmark ran past --time-limit {args.time_limit} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.time_limit)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    own_sqlite = None
    database_url = args.database_url
    if not database_url:
        own_sqlite = RESULTS / f"{name}-{stamp}-{os.getpid()}.sqlite3"
        database_url = f"sqlite:///{own_sqlite}"
    try:
        run(args, database_url, stamp)
    finally:
        signal.alarm(0)
        if own_sqlite and not args.keep_database:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{own_sqlite}{suffix}").unlink(missing_ok=True)


def main(argv=None):
    args = parse_args(argv)
    require_wrk()
    run_bench(args, "portal", run)


def run(args, database_url, stamp):
    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"Database: {database_url.split('@')[-1]}; serving {args.app_root} (queries counted on {ROOT})")
    big = seed(database_url, args.accounts, args.per_account, today)
    print(f"Seeded {big.accounts} accounts x {big.licenses_per_account} licenses = {big.licenses} in {big.seconds} s")
    small = seed(database_url, 1, 1, today)
    users = {
        f"{args.per_account} licenses": (big.sample_email, big.password, args.per_account),
        "1 license": (small.sample_email, small.password, 1),
    }

    queries = count_page_queries(database_url, users)

    portal_env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32),
                      SESSION_COOKIE_SECURE="false", DATABASE_URL=database_url,
                      DATABASE_POOL="false" if args.no_pool else "true")
    hello_env = dict(os.environ)
    targets = []  # (label, port, path, headers)
    results = {}
    with ExitStack() as servers:
        portals = [
            (label, servers.enter_context(Gunicorn("wsgi:app", args.app_root, {**portal_env, **settings}, args,
                                                   RESULTS / f"gunicorn-portal{n}-{stamp}.log")))
            for n, (label, settings) in enumerate(variants(args))
        ]
        hello = servers.enter_context(Gunicorn("hello_app:app", BENCH, hello_env, args,
                                               RESULTS / f"gunicorn-hello-{stamp}.log"))
        status, _, body = http_get(hello.port, "/")
        if status != 200 or body != b"Hello, World!":
            raise RuntimeError(f"hello app answered {status} {body[:40]!r}")
        sizes = {}
        masters = {hello.port: hello.process.pid}
        for variant, portal in portals:
            suffix = f" ({variant})" if variant else ""
            masters[portal.port] = portal.process.pid
            first_cookie = None
            for label, (email, password, rows) in users.items():
                cookie = log_in(portal.port, email, password)
                first_cookie = first_cookie or cookie
                sizes.setdefault(label, check_page(portal.port, cookie, rows))
                targets.append((f"/licenses, {label}{suffix}", portal.port, "/licenses", {"Cookie": cookie}))
            targets.append((f"/licenses, {args.per_account} licenses, htmx partial{suffix}", portal.port,
                            "/licenses", {"Cookie": first_cookie, "HX-Request": "true"}))
        targets.append(("hello world", hello.port, "/", {}))

        for _, port, path, headers in targets:
            if args.warmup:
                run_wrk(port, path, headers, args, args.warmup)
        for _ in range(args.rounds):
            for label, port, path, headers in targets:
                cpu_before = cpu_seconds(masters[port])
                rps, requests, p50, p99, not_ok, socket_errors, output = run_wrk(
                    port, path, headers, args, args.duration)
                cpu_ms = (cpu_seconds(masters[port]) - cpu_before) * 1000 / max(requests, 1)
                if not_ok:
                    raise RuntimeError(f"{label}: {not_ok} responses were not 200\n{output}")
                results.setdefault(label, []).append((rps, cpu_ms, p50, p99, socket_errors))

    report(args, queries, sizes, results)


def report(args, queries, sizes, results):
    print()
    print(f"Served with {'a connection per request' if args.no_pool else 'a connection pool'}; "
          f"gunicorn: {args.workers} workers, worker class {args.worker_class}, {args.threads} thread(s); "
          f"wrk -t{args.wrk_threads} -c{args.wrk_connections} -d{args.duration}s, {args.rounds} round(s); "
          f"{os.cpu_count()} CPUs")
    hello_rps = statistics.median(r[0] for r in results["hello world"])
    hello_cpu = statistics.median(r[1] for r in results["hello world"])
    for label, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        cpu_ms = statistics.median(r[1] for r in runs)
        p50, p99, socket_errors = sorted(runs)[len(runs) // 2][2:]
        ratio = "" if label == "hello world" else f"  ratio {rps / hello_rps:.2f}"
        errors = f"  socket errors: {socket_errors}" if socket_errors else ""
        print(f"  {label:<38} {rps:8.1f} req/s  p50 {p50:>8}  p99 {p99:>8}  "
              f"worker CPU {cpu_ms:5.2f} ms/req{ratio}{errors}")
    for label, goal in ((f"/licenses, {args.per_account} licenses", RATIO_GOAL),
                        (f"/licenses, {args.per_account} licenses, htmx partial", RATIO_GOAL),
                        ("/licenses, 1 license", ONE_LICENSE_RATIO_GOAL)):
        ratio = statistics.median(r[0] for r in results[label]) / hello_rps
        cpu_ratio = hello_cpu / statistics.median(r[1] for r in results[label])
        print(f"Ratio ({label} / hello world): {ratio:.2f} - goal >= {goal}: {'met' if ratio >= goal else 'NOT met'}"
              f"  (worker CPU per request, hello world / page: {cpu_ratio:.2f})")

    print("SQL queries per GET /licenses (full page / htmx partial):")
    shapes = list(zip(*((len(full), len(partial)) for full, partial in queries.values())))
    for label, (full, partial) in queries.items():
        print(f"  {label:<14} {len(full)} / {len(partial)}")
        if args.show_queries:
            for statement in full:
                print(f"      {statement[:240]}")
    constant = all(len(set(counts)) == 1 for counts in shapes) and max(map(max, shapes)) <= QUERY_GOAL
    print(f"  goal: the same for 1 and {args.per_account} licenses (page and partial each) and <= {QUERY_GOAL}: "
          f"{'met' if constant else 'NOT met'}")

    print("Response sizes in bytes (full page / htmx partial):")
    for label, (full, partial) in sizes.items():
        print(f"  {label:<14} {full} / {partial}")


if __name__ == "__main__":
    main()
