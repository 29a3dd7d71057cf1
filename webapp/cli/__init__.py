"""`flask` commands for operators and cron."""
import json
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from peewee import IntegrityError

from .. import audit, reminders
from .. import migrations as schema
from ..accounts.models import Account, User
from ..billing import api_tokens
from ..billing import report as billing_report
from ..billing import rules as billing
from ..core import clock, limiter
from ..core.filters import filesize
from ..core.text import describe_character, hidden_character, printable
from ..extensions import db
from ..identity import links as tokens
from ..identity import sessions, two_factor
from ..identity import throttle as login_throttle
from ..identity.passwords import password_problem
from ..licenses import proofs
from ..migrations import MODELS
from ..reminders.models import ReminderRunLog
from . import demo


class PlainText(click.ParamType):
    """A command-line text that becomes data: control, format and bidi-override characters are refused."""

    name = "text"

    def convert(self, value, param, ctx):
        ch = hidden_character(value)
        if ch is not None:
            self.fail(f"contains an invisible or control character ({describe_character(ch)}); "
                      "type the value without it.", param, ctx)
        return value


TEXT = PlainText()


def _password(password, email):
    """The password given, or prompted for until it meets the password rules; one given that does not is refused."""
    if password:
        problem = password_problem(password, email)
        if problem:
            raise click.ClickException(f"The password is refused: {problem}")
        return password
    while True:
        password = click.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True, type=TEXT)
        problem = password_problem(password, email)
        if problem is None:
            return password
        click.echo(problem, err=True)


@contextmanager
def _schema_work():
    """Open the database for a schema command; a SchemaError becomes a one-line error, exit 1."""
    with db.database.connection_context():
        try:
            yield db.database
        except schema.SchemaError as error:
            raise click.ClickException(str(error)) from None


@contextmanager
def _operator_work():
    """The database open for an operator's command; its audit entries name "command line" as the actor."""
    with db.database.connection_context(), audit.acting_as(audit.COMMAND_LINE):
        yield


def _report_applied(applied):
    for name in applied:
        click.echo(f"applied: {name}")


@click.command("init-db")
@with_appcontext
def init_db():
    """Apply every pending migration (`flask db upgrade`), then the product list; safe to run again."""
    with _schema_work() as database:
        _report_applied(schema.prepare(database))
    click.echo("Database ready.")


@click.group("db")
def db_group():
    """Schema migrations (webapp/migrations/)."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply every pending migration in order, each in its own transaction."""
    with _schema_work() as database:
        applied = schema.upgrade(database)
    _report_applied(applied)
    click.echo(f"Database is up to date ({len(applied)} migration(s) applied).")


@db_group.command("status")
@with_appcontext
def db_status():
    """List applied and pending migrations; exits 1 while any is pending."""
    with _schema_work() as database:
        rows = schema.status(database)
    for name, applied in rows:
        click.echo(f"{'applied ' + applied.strftime('%Y-%m-%d %H:%M:%S') if applied else 'pending':27}  {name}")
    if any(applied is None for _, applied in rows):
        sys.exit(1)


@db_group.command("new")
@click.argument("name", type=TEXT)
@with_appcontext
def db_new(name):
    """Write the next numbered migration, drafted from how the models differ from this database."""
    with db.database.connection_context():
        path = schema.new_migration(db.database, MODELS, name)
    click.echo(f"Wrote {path}: read it, finish any TODO, and test the upgrade.")


@click.command("create-account")
@click.argument("name", type=TEXT)
@click.option("--billing-day", type=click.IntRange(1, 31), default=1, show_default=True,
              help="Day of the month the account's billing cycle starts.")
@with_appcontext
def create_account(name, billing_day):
    """Create an active customer account, enrolled in BYOL."""
    with _operator_work():
        try:
            with db.database.atomic():
                account = Account.create(name=name.strip(), billing_day=billing_day)
                audit.record("account.created", account=account.id, subject=account.name,
                             after={"name": account.name, "billing_day": billing_day, "status": account.status,
                                    "enrollment": "byol"})
        except IntegrityError:
            raise click.ClickException(f"An account named {name!r} already exists.") from None
    click.echo(f"Created account {name!r} (billing day {billing_day}, BYOL).")


def _create_user(email, password, **fields):
    email = email.strip().lower()
    user = User(email=email, **fields)
    user.set_password(_password(password, email))
    try:
        with db.database.atomic():
            user.save()
            audit.record("user.created", account=user.account_id, subject=email, after={
                "email": email, "name": user.name, "is_admin": user.is_admin, "is_authorized": user.is_authorized,
            })
    except IntegrityError:
        raise click.ClickException(f"A user with the email {email} already exists.") from None
    return user


@click.command("create-user")
@click.argument("email", type=TEXT)
@click.option("--account", "account_name", type=TEXT, required=True, help="Name of the user's account.")
@click.option("--authorized", is_flag=True, help="May open the Onboarding Portal.")
@click.option("--name", type=TEXT, default="", help="The user's full name.")
@click.option("--password", type=TEXT, help="Prompted (hidden) when not given.")
@with_appcontext
def create_user(email, account_name, authorized, name, password):
    """Create a customer user on an account."""
    with _operator_work():
        account = Account.get_or_none(Account.name == account_name)
        if account is None:
            raise click.ClickException(f"No account named {account_name!r}.")
        _create_user(email, password, account=account, name=name, is_authorized=authorized)
    click.echo(f"Created {'authorized ' if authorized else ''}user {email} on {account_name!r}.")


@click.command("create-admin")
@click.argument("email", type=TEXT)
@click.option("--password", type=TEXT, help="Prompted (hidden) when not given.")
@with_appcontext
def create_admin(email, password):
    """Create a staff admin, who sees every account."""
    with _operator_work():
        _create_user(email, password, is_admin=True, name="")
    click.echo(f"Created admin {email}.")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """A demo account with licenses in every status, its users and an admin; prints the logins."""
    with _schema_work() as database, audit.acting_as(audit.COMMAND_LINE):
        _report_applied(schema.prepare(database))
        credentials = demo.seed(clock.today())
    click.echo(f"Demo account: {demo.DEMO_ACCOUNT}")
    for role, email, password in credentials:
        click.echo(f"  {role:28} {email}  password: {password}")


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


class Misconfigured(click.ClickException):
    """The settings cannot work; exit status 2, so cron tells it apart from a send that failed (1)."""

    exit_code = 2


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
            raise Misconfigured(printable(error)) from None

        def report_failure(due, outcome, error):
            click.echo(printable(f"{outcome}: {due.account_name} · {due.plan} (expires {due.expires_on.isoformat()}) "
                                 f"to {due.contact_email}: {error}"), err=True)

        # Its own row, committed before any work: a run that dies leaves it with finished_at NULL.
        with db.database.atomic():
            log = ReminderRunLog.create(run_date=day)
            audit.record("reminders.run", subject=f"started, as of {day.isoformat()}", after={"run_date": day})
        with _terminate_as_exit():
            total = run.arm()
            if sys.stdout.isatty():
                with click.progressbar(length=total, label=f"Reminders due {day.isoformat()}") as bar:
                    summary = run.send(progress=bar.update, on_failure=report_failure)
            else:
                summary = run.send(on_failure=report_failure)
        exit_status = 1 if summary.failed else 0
        with db.database.atomic():
            reminders.record_run_end(log, summary, exit_status)
            audit.record("reminders.run", subject=f"finished, as of {day.isoformat()}", after={
                "run_date": day, "started_at": log.started_at, "sent": summary.sent, "failed": summary.failed,
                "skipped": summary.skipped, "exit_status": exit_status, **({"stopped": summary.stopped[:2000]} if summary.stopped else {}),
            })
    if summary.stopped:
        click.echo(printable(f"stopped early: {summary.stopped}"), err=True)
    click.echo(summary.line)
    if exit_status:
        sys.exit(exit_status)


@click.command("purge-uploads")
@with_appcontext
def purge_uploads():
    """Delete uploaded proof that no license uses, once older than UPLOAD_ORPHAN_MAX_AGE_HOURS (run daily from cron).

    Safe to run while the portal is in use and twice at once: a document any license version uses
    is never deleted, also when a Save attaches it during the purge.
    """
    hours = current_app.config["UPLOAD_ORPHAN_MAX_AGE_HOURS"]
    cutoff = clock.now() - timedelta(hours=hours)
    with db.database.connection_context():
        count, size = proofs.purge_unattached(cutoff)
    click.echo(f"purged {count} {'upload' if count == 1 else 'uploads'} ({filesize(size)}) that no license uses, "
               f"uploaded before {cutoff:%Y-%m-%d %H:%M} UTC ({hours:g} hours ago)")


@click.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted (hidden) when not given.")
@with_appcontext
def set_password(email, password):
    """Give a user a new password; every session the user had is ended."""
    email = email.strip().lower()
    with _operator_work():
        user = User.get_or_none(User.email == email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        password = _password(password, email)
        with db.database.atomic():
            sessions.change_password(user, password)
            audit.record("user.password_changed", account=user.account_id, subject=email,
                         after={"password": "set with flask set-password"})
    click.echo(f"New password set for {email}; their sessions were ended.")


@click.command("reset-2fa")
@click.argument("email", type=TEXT)
@with_appcontext
def reset_2fa(email):
    """Clear a staff admin's lost authenticator and recovery codes, and end their sessions.

    With ADMIN_2FA_REQUIRED on, they set up a new authenticator at their next sign-in.
    """
    email = email.strip().lower()
    with _operator_work():
        user = User.get_or_none(User.email == email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        had_one = bool(user.totp_secret)
        ended = two_factor.reset(user.id)
    what = "Authenticator and recovery codes cleared" if had_one else "No authenticator was set up; nothing to clear"
    click.echo(f"{what} for {email}; {ended} {'session' if ended == 1 else 'sessions'} ended.")


@click.command("purge-sessions")
@with_appcontext
def purge_sessions():
    """Delete sessions past SESSION_IDLE_TIMEOUT_HOURS or SESSION_LIFETIME_DAYS, and failed-login
    (and API rate-limit) counters whose window has ended (run daily from cron).

    Both are refused or ignored whether or not this runs; it keeps the tables small.
    """
    config = current_app.config
    with db.database.connection_context():
        count = sessions.purge_expired(config["SESSION_IDLE_TIMEOUT"], config["SESSION_LIFETIME"])
        # One table holds every kind of counter (sign-ins and second-factor codes, reset requests, the
        # API's requests per token): only what is past the longest window is spent for all of them.
        longest = max(login_throttle.Limits.from_config(config).window,
                      login_throttle.Limits.of_reset_requests(config).window, api_tokens.RATE_WINDOW)
        counters = limiter.purge_spent(longest, clock.now())
        used_links = tokens.purge_spent(clock.now(), timedelta(days=1))
    click.echo(f"purged {count} expired {'session' if count == 1 else 'sessions'}")
    click.echo(f"purged {used_links} used or expired password {'link' if used_links == 1 else 'links'}")
    click.echo(f"purged {counters} failed-login {'counter' if counters == 1 else 'counters'} past their window")


def _cycle_option(ctx, param, value):
    if value is None:
        return None
    cycle = billing.parse_cycle(value)
    if cycle is None:
        raise click.BadParameter("give a month as YYYY-MM, e.g. 2027-01")
    return cycle


@click.command("billing-report")
@click.option("--cycle", callback=_cycle_option, metavar="YYYY-MM",
              help="The month whose billing cycles to report. Default: next month.")
@click.option("--format", "output", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@with_appcontext
def billing_report_command(cycle, output):
    """Print each account's billing mode, reason, BYOL seats and earliest expiration for a cycle."""
    today = clock.today()
    year, month = cycle or billing.next_cycle(today)
    with db.database.connection_context():
        report = billing_report.billing_report(year, month, today, current_app.config["BUSINESS_TIMEZONE"])
    if output == "csv":
        click.echo(billing_report.as_csv(report.rows), nl=False)
    else:
        rows = [row.as_dict() for row in report.rows]
        click.echo(json.dumps({"cycle": billing.format_cycle(year, month), "accounts": rows}, indent=1))


def _token_name(name):
    name = " ".join(name.split())
    if not name or len(name) > 100 or not name.isprintable():
        raise click.BadParameter("give a name of 1 to 100 printable characters", param_hint="NAME")
    return name


@click.command("create-api-token")
@click.argument("name")
@with_appcontext
def create_api_token(name):
    """Create a bearer token for the billing API; it is printed once and stored only as a hash."""
    name = _token_name(name)
    with _operator_work():
        try:
            token = api_tokens.create_token(name)
        except api_tokens.TokenNameTaken:
            raise click.ClickException(f"A token named {name!r} exists; revoke it first or choose another name.") from None
    click.echo(f"API token {name!r} (shown only now; keep it secret):", err=True)
    click.echo(token)


@click.command("revoke-api-token")
@click.argument("name")
@with_appcontext
def revoke_api_token(name):
    """Revoke a billing API token: requests with it get 401 from now on."""
    name = _token_name(name)
    with _operator_work():
        if not api_tokens.revoke_token(name):
            raise click.ClickException(f"No token named {name!r}.")
    click.echo(f"Revoked API token {name!r}.")


# Each command carries @with_appcontext: `flask` pushes an app context for app.cli commands, but
# app.test_cli_runner() invokes app.cli directly, where a plain click command gets none.
COMMANDS = [init_db, db_group, create_account, create_user, create_admin, seed_demo, send_reminders,
            purge_uploads, set_password, reset_2fa, purge_sessions, billing_report_command, create_api_token,
            revoke_api_token]


def register(app):
    for command in COMMANDS:
        app.cli.add_command(command)
