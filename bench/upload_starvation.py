"""Benchmark of upload starvation: does one account posting hostile uploads in parallel slow another
customer's Client Licenses tab?

    .venv/bin/python bench/upload_starvation.py                       # SQLite; before (main) and this tree
    .venv/bin/python bench/upload_starvation.py --database postgresql
    .venv/bin/python bench/upload_starvation.py --variant trust=/work/wt-trust --quick

Each variant is a checkout of the portal: "before" is a temporary worktree of --before-ref (main),
"after" this tree, and any --variant NAME=PATH more. For each, in this one run: a fresh database made
and seeded by that checkout's own code (bench/seed.py: two accounts, 25 licenses each), gunicorn with
4 sync workers serving it (production settings, pooled connections, the README's command), then:

1. idle: the victim (the first account's user) loads GET /licenses in a loop on one connection for
   --duration seconds; its median latency is the baseline;
2. under attack: 8 threads of the second account post the Add License form (a valid form, a new plan
   each time) with a hostile 8.7 MB PDF that keeps pypdf busy until the reader is killed at
   PROOF_TEXT_SECONDS (2 s); after --warmup seconds the victim is measured again for --duration.

Prints both medians, their ratio (attacked / idle, measured in the same run), p90s, and what the
attack got back (302 saved after a reading, 429 refused while another of its uploads is read).
"""
import argparse
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.portal_page import RESULTS, Gunicorn, http_get, log_in  # noqa: E402
from webapp.cli.demo import pdf_of  # noqa: E402

PASSWORD = "bench-password"
PDF_SIZE = 8_700_000


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgresql-server", default="postgresql://postgres@127.0.0.1:5432",
                        help="where --database postgresql creates (and drops) a database per variant")
    parser.add_argument("--before-ref", default="main", help="the git ref measured as 'before' ('' for none)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                        help="another checkout to measure (a worktree of another branch)")
    parser.add_argument("--attackers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10, help="seconds the victim is measured, each phase")
    parser.add_argument("--warmup", type=float, default=3, help="seconds the attack runs before it is measured")
    parser.add_argument("--quick", action="store_true", help="4 s phases, 2 s warm-up")
    return parser.parse_args(argv)


def hostile_pdf(size=PDF_SIZE):
    """A PDF whose one page is 8 million text operators (80 KB compressed: pypdf takes minutes over
    them), padded to `size` with a stream of random bytes no page uses."""
    content = zlib.compress(b"BT /F1 12 Tf " + b"(a) Tj " * 8_000_000 + b"ET", 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    padding = os.urandom(max(0, size - len(pdf_of(objects)) - 100))
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(padding), padding))
    return pdf_of(objects)


# --- the victim and the attackers ----------------------------------------------------------------


def victim_latencies(port, cookie, seconds):
    """GET /licenses in a loop on one keep-alive connection for `seconds`: each latency in ms."""
    latencies, deadline = [], time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        while time.monotonic() < deadline:
            started = time.monotonic()
            connection.request("GET", "/licenses", headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or b"Client Licenses" not in body:
                raise RuntimeError(f"the victim's tab answered {response.status}")
            latencies.append((time.monotonic() - started) * 1000)
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    finally:
        connection.close()
    return latencies


def csrf_token(port, cookie):
    status, _, body = http_get(port, "/licenses/new", headers={"Cookie": cookie})
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    products = re.findall(rb'<option value="(\d+)"', body)
    if status != 200 or not token or not products:
        raise RuntimeError(f"GET /licenses/new gave {status} without a CSRF token or a product")
    return token.group(1).decode(), products[0].decode()


def multipart(fields, file_field, file_name, content):
    boundary = secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
                 "Content-Type: application/pdf\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


class Attack:
    """`attackers` threads posting the Add License form with the hostile PDF until stopped."""

    def __init__(self, port, cookie, attackers, pdf):
        self.port, self.cookie, self.pdf = port, cookie, pdf
        self.token, self.product = csrf_token(port, cookie)
        self.stop = threading.Event()
        self.statuses, self.lock, self.counter = {}, threading.Lock(), 0
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(attackers)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _loop(self):
        expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 200 * 86400))
        while not self.stop.is_set():
            with self.lock:
                self.counter += 1
                number = self.counter
            content_type, body = multipart({
                "csrf_token": self.token, "product": self.product, "plan": f"Office 365 E3 copy {number}",
                "seats": "25", "term": "Yearly", "expires_on": expires, "tenant": "attacker.onmicrosoft.com",
                "contact_name": "Mallory", "contact_email": "mallory@attacker.example",
            }, "proof", "products.pdf", self.pdf)
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                connection.request("POST", "/licenses", body=body,
                                   headers={"Content-Type": content_type, "Cookie": self.cookie})
                status = connection.getresponse().status
            except OSError as error:
                status = type(error).__name__
            finally:
                connection.close()
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1


# --- one variant ----------------------------------------------------------------------------------


def new_database(args, name):
    """(url, drop) of a fresh database for one variant."""
    if args.database == "sqlite":
        path = RESULTS / f"starvation-{name}-{os.getpid()}.sqlite3"
        return f"sqlite:///{path}", lambda: [Path(f"{path}{s}").unlink(missing_ok=True) for s in ("", "-wal", "-shm")]
    import psycopg2

    database = f"bench_starvation_{re.sub(r'[^a-z0-9]', '_', name.lower())}_{os.getpid()}"

    def admin(statement):
        connection = psycopg2.connect(f"{args.postgresql_server}/postgres")
        connection.autocommit = True
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()

    admin(f'DROP DATABASE IF EXISTS "{database}"')
    admin(f'CREATE DATABASE "{database}"')
    return f"{args.postgresql_server}/{database}", lambda: admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def measure_variant(args, name, tree, pdf, stamp):
    url, drop = new_database(args, name)
    try:
        # Seeded by the variant's own code, so its own migrations make the schema.
        seeded = subprocess.run([sys.executable, str(tree / "bench" / "seed.py"), "--database-url", url,
                                 "--accounts", "2", "--per-account", "25"],
                                cwd=tree, capture_output=True, text=True)
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding {name} failed:\n{seeded.stderr[-2000:]}")
        env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32),
                   SESSION_COOKIE_SECURE="false", DATABASE_URL=url, DATABASE_POOL="true",
                   LOGIN_MAX_FAILURES_PER_ADDRESS="1000")
        env.pop("PYTHONPATH", None)
        settings = SimpleNamespace(workers=4, worker_class="sync", threads=1)
        with ExitStack() as stack:
            portal = stack.enter_context(Gunicorn("wsgi:app", tree, env, settings,
                                                  RESULTS / f"gunicorn-starvation-{name}-{stamp}.log"))
            victim = log_in(portal.port, "user1@bench.example", PASSWORD)
            attacker = log_in(portal.port, "user2@bench.example", PASSWORD)
            victim_latencies(portal.port, victim, 1)  # warm the workers' connections and templates
            idle = victim_latencies(portal.port, victim, args.duration)
            with Attack(portal.port, attacker, args.attackers, pdf) as attack:
                time.sleep(args.warmup)
                attacked = victim_latencies(portal.port, victim, args.duration)
                statuses = dict(attack.statuses)
        return idle, attacked, statuses
    finally:
        drop()


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.duration, args.warmup = 4, 2
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    pdf = hostile_pdf()
    variants = []
    with ExitStack() as cleanup:
        if args.before_ref:
            before = Path(tempfile.mkdtemp(prefix="bench-before-"))
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(before),
                            args.before_ref], check=True)
            cleanup.callback(lambda: (subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                                      str(before)]), shutil.rmtree(before, ignore_errors=True)))
            variants.append((f"before ({args.before_ref})", before))
        variants.append(("after (this tree)", ROOT))
        for spec in args.variant:
            name, _, path = spec.partition("=")
            variants.append((name, Path(path).resolve()))
        print(f"{args.database}; 4 sync workers; victim: GET /licenses (25 licenses) on one connection; attack: "
              f"{args.attackers} threads of one account posting a {len(pdf) / 1e6:.1f} MB hostile PDF; "
              f"{args.duration:g} s per phase; load {os.getloadavg()[0]:.2f}")
        rows = []
        for name, tree in variants:
            print(f"  measuring {name}: {tree} ...", flush=True)
            idle, attacked, statuses = measure_variant(args, name, tree, pdf, stamp)
            rows.append((name, idle, attacked, statuses))
    print()
    header = f"{'variant':<28}{'idle med ms':>12}{'idle p90':>10}{'attacked med':>14}{'attacked p90':>14}" \
             f"{'ratio (med)':>13}  attack answers"
    print(header)
    print("-" * len(header))
    for name, idle, attacked, statuses in rows:
        ratio = statistics.median(attacked) / statistics.median(idle)
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items(), key=str))
        print(f"{name:<28}{statistics.median(idle):>12.1f}{percentile(idle, .9):>10.1f}"
              f"{statistics.median(attacked):>14.1f}{percentile(attacked, .9):>14.1f}{ratio:>12.1f}x  {answers}")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
