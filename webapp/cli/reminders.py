"""`flask send-reminders`, run daily from cron, and `flask send-digest`, weekly."""
import signal
import smtplib
import sys
import threading
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import audit, digest, reminders
from ..core import clock
from ..core.mail import MailSettingsError, TimedConnection, check_settings, portal_url
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
    """Email the reminders due on the REMINDER_DAYS schedule, and lapse notices (run daily from cron).

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
                                     f"  to {due.recipient_email}  ({reminders.step_label(due.kind)})"))
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
                                 f"to {due.recipient_email}: {error}"), err=True)

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


@click.command("send-digest")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Report as of this date (tests). Default: today in BUSINESS_TIMEZONE.")
@with_appcontext
def send_digest(today):
    """Email the weekly staff digest to STAFF_DIGEST_TO (run weekly from cron).

    It goes out even with nothing to report, saying so. Exits 2 when STAFF_DIGEST_TO or the mail settings
    cannot work, 1 when the mail server did not take it.
    """
    app = current_app._get_current_object()
    if app.config["STAFF_DIGEST_PROBLEM"]:
        raise Misconfigured(printable(app.config["STAFF_DIGEST_PROBLEM"]))
    try:
        check_settings(app)
    except MailSettingsError as error:
        raise Misconfigured(printable(error)) from None
    day = today.date() if today else clock.today()
    with db.database.connection_context():
        found = digest.gather(day, clock.now())
        message = digest.digest_email(found, app.config["STAFF_DIGEST_ADDRESSES"], portal_url("admin.reviews"),
                                      portal_url("admin.index"))
    try:
        with TimedConnection(app.extensions["mail"], float(app.config["MAIL_TIMEOUT"])) as connection:
            connection.send(message)
    except (smtplib.SMTPException, OSError) as error:
        click.echo(printable(f"the digest was not sent: "
                             f"{reminders.describe_smtp_error(error, float(app.config['MAIL_TIMEOUT']))}"), err=True)
        sys.exit(1)
    click.echo(f"digest sent to {len(message.recipients)} address{'es' if len(message.recipients) != 1 else ''}: "
               + ("action needed" if found.has_news else "nothing to report"))
