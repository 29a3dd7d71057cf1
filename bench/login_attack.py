"""Benchmark of a login attack: does a flood of wrong passwords slow a signed-in user's Client Licenses tab?

    .venv/bin/python bench/login_attack.py --quick        # smoke run: 3 s per load run
    .venv/bin/python bench/login_attack.py                # 10 s runs, 5 rounds, on a fresh SQLite file
    .venv/bin/python bench/login_attack.py --database-url postgresql://postgres@127.0.0.1:5432/bench_attack

Seeds a database (bench/seed.py), serves the portal (wsgi:app, production settings, README's gunicorn
command: 4 sync workers) on 127.0.0.1, signs a user in through the real login form, and measures the
p99 latency of that user's GET /licenses (25 licenses) with wrk, first alone and then while 8 more
connections send wrong passwords to POST /login as fast as they can (bench/login_attack.lua, with a
real CSRF token). Rounds alternate the two. Prints both p99s and their ratio (goal <= 2x), and what
the attack got back (401 = a password hash was computed, 429 = refused by the throttle).
"""
import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.portal_page import (  # noqa: E402
    RESULTS,
    WRK,
    Gunicorn,
    check_page,
    cpu_seconds,
    http_get,
    log_in,
    require_wrk,
    run_bench,
    run_wrk,
    session_cookie,
)
from bench.seed import seed  # noqa: E402
from config import Config  # noqa: E402
from webapp.core.clock import business_today  # noqa: E402

RATIO_GOAL = 2.0
LOAD_BEFORE = f"{os.getloadavg()[0]:.2f}"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="seed into this database (default: a fresh SQLite file in bench/results/)")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--per-account", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 round: a smoke check")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds the attack runs before the measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternate quiet and attacked runs this many times")
    parser.add_argument("--attackers", type=int, default=8, help="connections sending wrong passwords")
    parser.add_argument("--user-connections", type=int, default=1,
                        help="connections of the signed-in user (1: one person clicking as fast as pages come)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (README's production command: 4)")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-pool", action="store_true", help="DATABASE_POOL=false")
    parser.add_argument("--portal-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting for the portal, e.g. LOGIN_MAX_FAILURES_PER_ADDRESS=1000000")
    parser.add_argument("--control", action="store_true",
                        help="flood GET /static/favicon.svg instead of the login: the floor for any in-app refusal")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--time-limit", type=int, default=900, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 3, 1, 1
    # run_wrk reads these for the user's load.
    args.wrk_threads, args.wrk_connections = 1, args.user_connections
    return args


def login_form_token(port):
    """A real attacker's first step: GET /login for a session cookie and its CSRF token."""
    status, headers, body = http_get(port, "/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
    cookie = session_cookie(headers)
    if status != 200 or not token or not cookie:
        raise RuntimeError(f"GET /login gave {status} without a CSRF token or session cookie")
    return cookie, token.group(1).decode()


class Attack:
    """wrk sending wrong passwords on `attackers` connections, for a bounded time, stopped by its PID."""

    def __init__(self, port, connections, seconds, known_email, control=False):
        self.port, self.connections, self.seconds, self.known_email = port, connections, seconds, known_email
        self.control = control
        self.process = None

    def __enter__(self):
        command = [WRK, f"-t{min(self.connections, 2)}", f"-c{self.connections}", f"-d{self.seconds}s", "--latency"]
        if self.control:
            # The cheapest answer Flask can give, in place of the refused logins: the floor of any in-app refusal.
            command += ["-s", str(BENCH / "status_check.lua"), f"http://127.0.0.1:{self.port}/static/favicon.svg"]
        else:
            cookie, token = login_form_token(self.port)
            command += ["-H", f"Cookie: {cookie}", "-s", str(BENCH / "login_attack.lua"),
                        f"http://127.0.0.1:{self.port}/login", "--", token, self.known_email]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        return self

    def result(self):
        """(requests/s, p99, {status: count}) once wrk has finished."""
        output, _ = self.process.communicate(timeout=self.seconds + 30)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)
        statuses = {int(s): int(n) for s, n in re.findall(r"Status (\d+): (\d+)", output)}
        if self.control:
            requests = int(re.search(r"(\d+) requests in", output).group(1))
            not_ok = int(re.search(r"Responses other than 200: (\d+)", output).group(1))
            statuses = {200: requests - not_ok, 0: not_ok}
        return rps, p99, statuses

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def milliseconds(wrk_time):
    """wrk's "12.34ms" / "1.20s" / "850.00us" as milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", wrk_time).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def main(argv=None):
    args = parse_args(argv)
    require_wrk()
    run_bench(args, "attack", run)


def run(args, database_url, stamp):
    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"Database: {database_url.split('@')[-1]}")
    seeded = seed(database_url, args.accounts, args.per_account, today)
    print(f"Seeded {seeded.accounts} accounts x {seeded.licenses_per_account} licenses in {seeded.seconds} s")
    env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_hex(32), SESSION_COOKIE_SECURE="false",
               DATABASE_URL=database_url, DATABASE_POOL="false" if args.no_pool else "true")
    for setting in args.portal_env:
        name, _, value = setting.partition("=")
        env[name] = value

    quiet, attacked, attacks = [], [], []
    with Gunicorn("wsgi:app", ROOT, env, args, RESULTS / f"gunicorn-attack-{stamp}.log") as portal:
        cookie = log_in(portal.port, seeded.sample_email, seeded.password)
        check_page(portal.port, cookie, args.per_account)
        headers = {"Cookie": cookie}
        run_wrk(portal.port, "/licenses", headers, args, args.warmup or 1)  # warm the workers up
        master = portal.process.pid
        for _ in range(args.rounds):
            before = cpu_seconds(master)
            quiet.append(_measure(portal.port, headers, args) + (cpu_seconds(master) - before,))
            before = cpu_seconds(master)
            with Attack(portal.port, args.attackers, args.warmup + args.duration + 1, seeded.sample_email,
                        control=args.control) as attack:
                time.sleep(args.warmup)
                attacked.append(_measure(portal.port, headers, args))
                attacks.append(attack.result() + (cpu_seconds(master) - before,))
        # The user was never signed out or refused by the attack on their email.
        check_page(portal.port, cookie, args.per_account)
    report(args, quiet, attacked, attacks)


def _measure(port, headers, args):
    rps, requests, p50, p99, not_ok, socket_errors, output = run_wrk(port, "/licenses", headers, args, args.duration)
    if not_ok:
        raise RuntimeError(f"/licenses: {not_ok} responses were not 200\n{output}")
    timeouts = re.search(r"timeout (\d+)", socket_errors)
    if requests == 0 or (timeouts and int(timeouts.group(1))):
        # wrk leaves a request that got no answer within its 2 s out of the percentiles: the page was
        # not served, which is no latency at all, so the figures are unbounded, not small.
        print(f"  /licenses: {requests} answered, socket errors: {socket_errors or 'none'}; p50/p99 taken as unbounded")
        return rps, float("inf"), float("inf"), requests
    return rps, milliseconds(p50), milliseconds(p99), requests


def report(args, quiet, attacked, attacks):
    print()
    if args.control:
        print("CONTROL RUN: the 'attack' is GET /static/favicon.svg, not logins")
    print(f"gunicorn: {args.workers} workers, {args.worker_class}; the user: wrk -t1 -c{args.user_connections} "
          f"-d{args.duration}s on /licenses ({args.per_account} licenses); the attack: {args.attackers} connections "
          f"of wrong passwords; {args.rounds} round(s), medians; {os.cpu_count()} CPUs"
          + (f"; settings: {' '.join(args.portal_env)}" if args.portal_env else ""))
    for label, runs in (("without the attack", quiet), ("during the attack", attacked)):
        print(f"  /licenses {label:<20} {statistics.median(r[0] for r in runs):8.1f} req/s  "
              f"p50 {statistics.median(r[1] for r in runs):7.2f} ms  p99 {statistics.median(r[2] for r in runs):7.2f} ms"
              f"  (p99 per round: {', '.join(f'{r[2]:.2f}' for r in runs)})")
    page_cpu = statistics.median(r[4] * 1000 / max(r[3], 1) for r in quiet)
    statuses = {}
    for _, _, counted, _ in attacks:
        for status, count in counted.items():
            statuses[status] = statuses.get(status, 0) + count
    print(f"  the attack: {statistics.median(a[0] for a in attacks):8.1f} tries/s, p99 "
          f"{', '.join(a[1] for a in attacks)}; answers: "
          + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
          + " (401: a password hash was computed; 429: refused before any)")
    # The last round's CPU, less the user's pages at their quiet cost, over its tries: the steady state
    # (the first round pays the hashes up to the limit).
    _, _, counted, attack_cpu = attacks[-1]
    tries = sum(counted.values())
    print(f"  gunicorn CPU: {page_cpu:.2f} ms per page without the attack; about "
          f"{max(attack_cpu * 1000 - attacked[-1][3] * page_cpu, 0) / max(tries, 1):.2f} ms per try in the last "
          f"round's attack (the pages served meanwhile taken off at their quiet cost)")
    ratio = statistics.median(r[2] for r in attacked) / statistics.median(r[2] for r in quiet)
    p50_ratio = statistics.median(r[1] for r in attacked) / statistics.median(r[1] for r in quiet)
    print(f"p99 ratio (during / without the attack): {ratio:.2f} - goal <= {RATIO_GOAL:g}: "
          f"{'met' if ratio <= RATIO_GOAL else 'NOT met'}  (p50 ratio {p50_ratio:.2f}; load average before/after: "
          f"{LOAD_BEFORE} / {os.getloadavg()[0]:.2f} - other work on the machine moves both)")


if __name__ == "__main__":
    main()
