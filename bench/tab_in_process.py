"""The Client Licenses tab's CPU per request in one process, with and without the fragment cache, against hello world.

    .venv/bin/python bench/tab_in_process.py                      # 200 accounts x 25 licenses, fresh SQLite file
    .venv/bin/python bench/tab_in_process.py --database-url postgresql://postgres@127.0.0.1:5432/bench_tab

Seeds with bench/seed.py, builds two apps on the same database (CACHE_TYPE=SimpleCache, the default,
and NullCache) and a hello-world Flask app, signs user1 in through each test client, then alternates
--rounds rounds of --requests GETs of each page, timing process CPU. Prints the median ms per request
and hello world's share of it. No server and no network: the steadiest figure on a busy machine,
though it leaves out gunicorn's and the socket's share, which portal_page.py measures.
"""
import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed import BENCH_PASSWORD, seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        database_url = args.database_url or f"sqlite:///{scratch}/tab.sqlite3"
        seed(database_url, args.accounts, 25, business_today(Config.BUSINESS_TIMEZONE), due=args.accounts // 2)
        run(database_url, args)


def run(database_url, args):
    from flask import Flask

    from webapp import create_app

    hello = Flask("hello")
    hello.add_url_rule("/", "index", lambda: "Hello, World!")
    clients = {"hello world": (hello.test_client(), "/", {})}
    for label, cache_type in (("cached", "SimpleCache"), ("not cached", "NullCache")):
        app = create_app(Config, DATABASE_URL=database_url, SECRET_KEY=secrets.token_hex(32), WTF_CSRF_ENABLED=False,
                         SESSION_COOKIE_SECURE=False, DATABASE_POOL=True, CACHE_TYPE=cache_type)
        client = app.test_client()
        if client.post("/login", data={"email": "user1@bench.example", "password": BENCH_PASSWORD}).status_code != 302:
            raise RuntimeError("the bench user could not sign in")
        clients[f"tab, 25 licenses ({label})"] = (client, "/licenses", {})
        clients[f"tab, htmx partial ({label})"] = (client, "/licenses", {"HX-Request": "true"})
    results = {}
    for _ in range(args.rounds):
        for label, (client, path, headers) in clients.items():
            for _ in range(5):
                if client.get(path, headers=headers).status_code != 200:
                    raise RuntimeError(f"{label}: not 200")
            started = time.process_time()
            for _ in range(args.requests):
                client.get(path, headers=headers)
            results.setdefault(label, []).append((time.process_time() - started) / args.requests * 1000)
    hello_ms = statistics.median(results["hello world"])
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.requests} requests; load {os.getloadavg()[0]:.1f}")
    for label, runs in results.items():
        ms = statistics.median(runs)
        print(f"  {label:<32} {ms:6.2f} ms CPU/request  hello world / page {hello_ms / ms:.3f}")


if __name__ == "__main__":
    main()
