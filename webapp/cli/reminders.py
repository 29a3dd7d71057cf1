"""`flask send-reminders`, run daily from cron."""
import signal
import sys
import threading
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import audit, reminders
from ..core import clock
from ..core.text import printable
from ..extensions import db
from ._common import (
    Misconfigured,
)


@contextmanager
def _terminate_as_exit():
    """Let SIGTERM unwind like Ctrl-C, so a stopped run still records what it already sent."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("send-reminders")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Run as of this date (back-fills, tests). Default: today in BUSINESS_TIMEZONE.")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send and record nothing.")
@with_appcontext
def send_reminders(today, dry_run):
    """Email the 30-day expiration reminder to each due license's contact person (run daily from cron).

    The last line is always `sent N, failed N, skipped N`. Skipped: due, but not attempted by this run
    (another run is sending it, it used up REMINDER_MAX_ATTEMPTS, or the mail server was unreachable).
    Exits 1 when any send failed (the mail server unreachable included), 2 when the mail settings
    cannot work (no MAIL_DEFAULT_SENDER, or MAIL_SUPPRESS_SEND on).
    """
    day = today.date() if today else clock.today()
    with db.database.connection_context(), audit.acting_as(audit.CRON):
        if dry_run:
            planned, skipped = 0, 0
            for due, attempt in reminders.preview(day):
                if not attempt:
                    skipped += 1
                    continue
                planned += 1
                click.echo(printable(f"would send: {due.expires_on.isoformat()}  {due.account_name} · {due.plan}"
                                     f"  to {due.contact_email}"))
            click.echo(f"dry run as of {day.isoformat()}: {planned} would be sent; nothing sent or recorded")
            click.echo(reminders.RunSummary(skipped=skipped).line)
            return
        try:
            run = reminders.ReminderRun(current_app._get_current_object(), day)
        except reminders.MailSettingsError as error:
            # Recorded as exit 1 is, so the audit trail shows every run that sent nothing, and why.
            reminders.record_run_refused(day, printable(error), Misconfigured.exit_code)
            raise Misconfigured(printable(error)) from None

        def report_failure(due, outcome, error):
            click.echo(printable(f"{outcome}: {due.account_name} · {due.plan} (expires {due.expires_on.isoformat()}) "
                                 f"to {due.contact_email}: {error}"), err=True)

        log = reminders.record_run_start(day)
        with _terminate_as_exit():
            total = run.arm()
            if sys.stdout.isatty():
                with click.progressbar(length=total, label=f"Reminders due {day.isoformat()}") as bar:
                    summary = run.send(progress=bar.update, on_failure=report_failure)
            else:
                summary = run.send(on_failure=report_failure)
        exit_status = 1 if summary.failed else 0
        reminders.record_run_end(log, summary, exit_status)
    if summary.stopped:
        click.echo(printable(f"stopped early: {summary.stopped}"), err=True)
    click.echo(summary.line)
    if exit_status:
        sys.exit(exit_status)
