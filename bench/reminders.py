"""Benchmark of `flask send-reminders`: 10k due licenses among 250k, sent within a minute, with the schedule
60,30,14,7,1 and escalation from 14 days on (each account's authorized user gets a copy of those steps).

    .venv/bin/python bench/reminders.py                         # SQLite and PostgreSQL, 250k then 500k licenses
    .venv/bin/python bench/reminders.py --database sqlite --no-double
    .venv/bin/python bench/reminders.py --licenses 25000 --due 1000 --no-double   # a smoke check
    .venv/bin/python bench/reminders.py --schedule 30 --escalate-days -1          # the article's single reminder

For each database and size: seed a fresh database (bench/seed.py), start an aiosmtpd sink in a process of
its own (so it does not share the GIL with the sender), time a plain smtplib loop sending the same due
reminders, rendered beforehand, over one connection (for context only); then run `flask send-reminders`
in a fresh process. Goals: the command sends them in at most 60 s (GOAL_SECONDS), its SQL statements
grow with batches, not licenses, and its peak RSS stays under 120 MB and flat when the licenses double.
"""
import argparse
import logging
import multiprocessing
import os
import re
import secrets
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
SENDER = "licenses@bench.example"
ACCOUNT_LICENSES = 25
SUMMARY = re.compile(r"^sent (\d+), failed (\d+), skipped (\d+)$", re.M)
GOAL_SECONDS = 60
GOAL_RSS_MB = 120
STATS = re.compile(r"^bench-stats queries=(\d+) peak_rss_kb=(\d+) command_seconds=([\d.]+)$", re.M)


# --- the SMTP sink, in a process of its own ---------------------------------------------------


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def run_sink(ready, delivered, stop):
    """An aiosmtpd server that counts what it accepts (runs in a spawned process)."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server, session, envelope):
            delivered.value += 1
            return "250 2.0.0 Accepted"

    port = _free_port()
    controller = Controller(Counter(), hostname=HOST, port=port)
    controller.start()
    ready.put(port)
    stop.wait()
    controller.stop()


class Sink:
    """Starts and stops the sink process; `delivered` counts the messages it accepted."""

    def __enter__(self):
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self.delivered = context.Value("q", 0, lock=False)
        self.stop = context.Event()
        self.process = context.Process(target=run_sink, args=(ready, self.delivered, self.stop), daemon=True)
        self.process.start()
        self.port = ready.get(timeout=30)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


# --- databases ----------------------------------------------------------------------------------


class ScratchDatabase:
    """A throwaway database: a SQLite file in a temp dir, or a PostgreSQL database created and dropped."""

    def __init__(self, kind, postgres_url, label):
        self.kind = kind
        self.postgres_url = postgres_url.rstrip("/")
        self.name = f"bench_reminders_{label}_{os.getpid()}"

    def __enter__(self):
        if self.kind == "sqlite":
            self.directory = tempfile.TemporaryDirectory(prefix="bench-reminders-")
            self.url = f"sqlite:///{self.directory.name}/portal.sqlite3"
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"')
            self.url = f"{self.postgres_url}/{self.name}"
        return self

    def __exit__(self, *exc):
        if self.kind == "sqlite":
            self.directory.cleanup()
        else:
            # FORCE: bench/seed.py's app pools its connection, which would otherwise keep the database busy.
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, *statements):
        import psycopg2

        connection = psycopg2.connect(f"{self.postgres_url}/postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()


# --- the two senders ----------------------------------------------------------------------------


def schedule_settings(schedule, escalate_days):
    """The environment settings of the schedule under test."""
    settings = {"REMINDER_DAYS": schedule}
    if escalate_days >= 0:
        settings["REMINDER_ESCALATE_DAYS"] = str(escalate_days)
    return settings


def prerender(database_url, today, port, settings):
    """(sender, [(recipient, bytes)]) for every message due: the exact messages the command sends."""
    from config import Config
    from webapp import create_app
    from webapp.core.mail import portal_url
    from webapp.extensions import db
    from webapp.reminders import preview, reminder_email

    escalate = settings.get("REMINDER_ESCALATE_DAYS")
    app = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, SECRET_KEY=secrets.token_hex(16),
                     MAIL_SERVER=HOST, MAIL_PORT=port, MAIL_DEFAULT_SENDER=SENDER,
                     REMINDER_DAYS=settings["REMINDER_DAYS"], REMINDER_ESCALATE_DAYS=int(escalate) if escalate else None)
    with app.app_context(), db.database.connection_context():
        licenses_url = portal_url("portal.licenses")
        messages = [
            (due.recipient_email, reminder_email(due, licenses_url).as_bytes())
            for due, attempt in preview(today) if attempt
        ]
    return SENDER, messages


def plain_loop(port, sender, messages):
    """Seconds for smtplib to send the pre-rendered messages over one connection."""
    started = time.perf_counter()
    smtp = smtplib.SMTP(HOST, port, timeout=30)
    for recipient, body in messages:
        smtp.sendmail(sender, [recipient], body)
    smtp.quit()
    return time.perf_counter() - started


def run_command(database_url, today, port, batch_size, settings):
    """Run `flask send-reminders` in a fresh process: (wall s, summary, SQL statements, peak RSS KB, command s)."""
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        MAIL_SERVER=HOST,
        MAIL_PORT=str(port),
        MAIL_DEFAULT_SENDER=SENDER,
        SECRET_KEY=secrets.token_hex(16),
        PORTAL_URL="https://portal.bench.example",
        REMINDER_BATCH_SIZE=str(batch_size),
        **settings,
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--today", today.isoformat()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    wall = time.perf_counter() - started
    stats = STATS.search(result.stderr)
    summary = SUMMARY.findall(result.stdout)
    if result.returncode != 0 or not stats or not summary:
        raise SystemExit(f"send-reminders failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    queries, rss_kb, command_seconds = int(stats[1]), int(stats[2]), float(stats[3])
    return wall, tuple(int(n) for n in summary[-1]), queries, rss_kb, command_seconds


def child(today):
    """Run the real command in this process, counting SQL statements and reporting peak RSS at exit."""

    class Count(logging.Handler):
        statements = 0

        def emit(self, record):
            if record.name == "peewee":  # SQL only, not peewee.pool's connection messages
                Count.statements += 1

    logger = logging.getLogger("peewee")
    logger.addHandler(Count(logging.DEBUG))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    from flask.cli import main

    sys.argv = ["flask", "send-reminders", "--today", today]
    started = time.perf_counter()
    try:
        main()
    finally:
        seconds = time.perf_counter() - started
        peak = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
        print(f"bench-stats queries={Count.statements} peak_rss_kb={peak[1]} command_seconds={seconds:.3f}",
              file=sys.stderr)


# --- one measurement ----------------------------------------------------------------------------


def measure(kind, postgres_url, licenses, due, today, batch_size, settings):
    from bench.seed import seed

    accounts = licenses // ACCOUNT_LICENSES
    with ScratchDatabase(kind, postgres_url, f"{licenses // 1000}k") as database, Sink() as sink:
        escalating = "REMINDER_ESCALATE_DAYS" in settings
        # With escalation, each account's one authorized user gets a copy of the steps that escalate.
        seeded = seed(database.url, accounts, ACCOUNT_LICENSES, today, due=due, users=escalating)
        sender, messages = prerender(database.url, today, sink.port, settings)
        count = len(messages)
        assert count == due or (escalating and count > due), f"{count} messages for {due} due licenses"

        before = sink.delivered.value
        loop_seconds = plain_loop(sink.port, sender, messages)
        assert sink.delivered.value - before == count
        del messages

        before = sink.delivered.value
        wall, summary, queries, rss_kb, command_seconds = run_command(database.url, today, sink.port, batch_size,
                                                                      settings)
        assert summary == (count, 0, 0), summary
        assert sink.delivered.value - before == count
    due_licenses = due
    due = count
    return {
        "database": kind,
        "licenses": licenses,
        "due_licenses": due_licenses,
        "due": due,
        "seed_s": seeded.seconds,
        "loop_s": loop_seconds,
        "loop_mps": due / loop_seconds,
        "command_wall_s": wall,
        "command_mps": due / wall,
        "command_s": command_seconds,
        "queries": queries,
        "batches": -(-due // batch_size),
        "peak_rss_mb": rss_kb / 1024,
    }


def report(row):
    print(
        f"{row['database']:10} {row['licenses']:>7} licenses, {row['due_licenses']} due, {row['due']} messages | "
        f"plain smtplib loop {row['loop_mps']:7.0f} msg/s ({row['loop_s']:.1f} s) | "
        f"send-reminders {row['command_mps']:7.0f} msg/s ({row['command_wall_s']:.1f} s wall, "
        f"{row['command_wall_s'] / row['loop_s']:.1f}x the plain loop) | "
        f"{row['queries']} SQL statements for {row['batches']} batches | "
        f"peak RSS {row['peak_rss_mb']:.1f} MB | "
        f"goals: <= {GOAL_SECONDS} s {'met' if row['command_wall_s'] <= GOAL_SECONDS else 'MISSED'}, "
        f"< {GOAL_RSS_MB} MB {'met' if row['peak_rss_mb'] < GOAL_RSS_MB else 'MISSED'}",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="server URL without a database name; the benchmark creates and drops its own")
    parser.add_argument("--licenses", type=int, default=250_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200, help="REMINDER_BATCH_SIZE for the run")
    parser.add_argument("--no-double", action="store_true", help="skip the second run at twice the licenses")
    parser.add_argument("--schedule", default="60,30,14,7,1", help="REMINDER_DAYS for the run")
    parser.add_argument("--escalate-days", type=int, default=14,
                        help="REMINDER_ESCALATE_DAYS for the run (-1: escalation off)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--today", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.today)

    from config import Config
    from webapp.core.clock import business_today

    today = business_today(Config.BUSINESS_TIMEZONE)
    print(f"schedule REMINDER_DAYS={args.schedule}, REMINDER_ESCALATE_DAYS="
          f"{args.escalate_days if args.escalate_days >= 0 else 'unset'}", flush=True)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    sizes = [args.licenses] if args.no_double else [args.licenses, 2 * args.licenses]
    rows = []
    for kind in kinds:
        for licenses in sizes:
            rows.append(measure(kind, args.postgres_url, licenses, args.due, today, args.batch_size,
                                schedule_settings(args.schedule, args.escalate_days)))
            report(rows[-1])
    for kind in kinds:
        runs = [row for row in rows if row["database"] == kind]
        if len(runs) == 2:
            small, large = runs
            rss = large["peak_rss_mb"] - small["peak_rss_mb"]
            print(f"{kind}: doubling the licenses changed peak RSS by {rss:+.1f} MB "
                  f"and SQL statements by {large['queries'] - small['queries']:+d}")


if __name__ == "__main__":
    main()
