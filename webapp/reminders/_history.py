"""Reminder history: the last reminder each license got, every attempt of a license, and the log of runs."""
from datetime import date, datetime, timedelta
from typing import NamedTuple

from peewee import fn

from .. import audit
from ..accounts.models import Account
from ..core.clock import utcnow
from ..core.compiled_sql import CompiledSelect, RowShape, placeholder
from ..extensions import db
from ..licenses.models import License, LicenseVersion
from ._due import step_label
from .models import Reminder, ReminderAttempt, ReminderRunLog


class SentReminder(NamedTuple):
    """The last reminder a license got: to whom and when (naive UTC)."""

    license_id: int
    recipient: str
    attempted_at: datetime


_SENT_REMINDER = RowShape(SentReminder, ReminderAttempt.license, ReminderAttempt.recipient, ReminderAttempt.attempted_at)


def _last_sent_query():
    latest = (
        ReminderAttempt.select(fn.MAX(ReminderAttempt.id))
        .join(License, on=(ReminderAttempt.license == License.id))
        .where((License.account == placeholder("account_id")) & (ReminderAttempt.outcome == ReminderAttempt.SENT))
        .group_by(ReminderAttempt.license)
    )
    return ReminderAttempt.select(*_SENT_REMINDER.columns).where(ReminderAttempt.id.in_(latest))


_LAST_SENT = CompiledSelect(_SENT_REMINDER, _last_sent_query)


def record_run_start(day):
    """A run's log row and audit entry, committed before any work: a run that dies leaves finished_at NULL."""
    with db.database.atomic():
        log = ReminderRunLog.create(run_date=day)
        audit.record("reminders.run", subject=f"started, as of {day.isoformat()}", after={"run_date": day})
    return log


def record_run_end(log, summary, exit_status):
    """Close a run's log row with its counts and exit status, with its audit entry."""
    with db.database.atomic():
        ReminderRunLog.update(
            finished_at=utcnow(), sent=summary.sent, failed=summary.failed, skipped=summary.skipped,
            exit_status=exit_status, note=summary.stopped[:2000],
        ).where(ReminderRunLog.id == log.id).execute()
        audit.record("reminders.run", subject=f"finished, as of {log.run_date.isoformat()}", after={
            "run_date": log.run_date, "started_at": log.started_at, "sent": summary.sent, "failed": summary.failed,
            "skipped": summary.skipped, "exit_status": exit_status,
            **({"stopped": summary.stopped[:2000]} if summary.stopped else {}),
        })


def record_run_refused(day, reason, exit_status):
    """The audit entry of a run that the settings stopped before any work (exit 2): no log row, since
    the dashboard's warning about runs that stopped finishing must go on showing."""
    with db.database.atomic():
        audit.record("reminders.run", subject=f"refused, as of {day.isoformat()}: the mail settings cannot work",
                     after={"run_date": day, "exit_status": exit_status, "error": reason[:2000]})


def last_sent_reminders(account_id):
    """{license id: its latest SentReminder} for the account's licenses, in one query."""
    return {row.license_id: row for row in _LAST_SENT.run(account_id=account_id)}


class SentStep(NamedTuple):
    """A step of the schedule (or the lapse notice) that went out for a license's current expiration date:
    which, when it first went (naive UTC), and to whom."""

    label: str
    attempted_at: datetime
    recipients: tuple


def sent_steps(account_id):
    """{license id: [SentStep], in the order sent} for the account's licenses' current expiration dates."""
    rows = (
        ReminderAttempt.select(
            ReminderAttempt.license.alias("license_id"), Reminder.kind.alias("kind"),
            ReminderAttempt.recipient.alias("recipient"), ReminderAttempt.attempted_at.alias("attempted_at"),
        )
        .join(Reminder, on=(ReminderAttempt.reminder == Reminder.id))
        .join_from(ReminderAttempt, License, on=(ReminderAttempt.license == License.id))
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .where((License.account == account_id) & (ReminderAttempt.outcome == ReminderAttempt.SENT)
               & (ReminderAttempt.expires_on == LicenseVersion.expires_on))
        .order_by(ReminderAttempt.attempted_at, ReminderAttempt.id)
        .namedtuples()
    )
    steps = {}  # license id -> {kind: (first sent at, [recipients])}
    for row in rows:
        first, recipients = steps.setdefault(row.license_id, {}).setdefault(row.kind, (row.attempted_at, []))
        recipients.append(row.recipient)
    return {
        license_id: [SentStep(step_label(kind), at, tuple(recipients)) for kind, (at, recipients) in kinds.items()]
        for license_id, kinds in steps.items()
    }


class FailedReminder(NamedTuple):
    """A message not delivered that a run tried within the period: for the staff digest."""

    account_name: str
    plan: str
    label: str
    expires_on: date
    recipient: str
    attempts: int
    last_error: str


def failed_since(since):
    """Messages still not sent that a run tried and failed at since `since` (naive UTC), soonest expiration first."""
    tried = (
        ReminderAttempt.select(ReminderAttempt.reminder)
        .where((ReminderAttempt.attempted_at >= since) & (ReminderAttempt.outcome != ReminderAttempt.SENT))
    )
    rows = (
        Reminder.select(
            Account.name.alias("account_name"), License.plan.alias("plan"), Reminder.kind, Reminder.expires_on,
            Reminder.recipient, Reminder.attempts, Reminder.last_error,
        )
        .join(License, on=(Reminder.license == License.id))
        .join(Account, on=(License.account == Account.id))
        .where((Reminder.status == Reminder.FAILED) & Reminder.id.in_(tried))
        .order_by(Reminder.expires_on, Account.name, Reminder.id)
        .namedtuples()
    )
    return [
        FailedReminder(row.account_name, row.plan, step_label(row.kind), row.expires_on, row.recipient, row.attempts,
                       row.last_error)
        for row in rows
    ]


def attempts_of(license_id):
    """Every attempt at a license's reminders, newest first, each with its kind (`kind`) and its step in words
    (`step`)."""
    attempts = list(
        ReminderAttempt.select(ReminderAttempt, Reminder.kind.alias("kind"))
        .join(Reminder, on=(ReminderAttempt.reminder == Reminder.id))
        .where(ReminderAttempt.license == license_id)
        .order_by(ReminderAttempt.attempted_at.desc(), ReminderAttempt.id.desc())
        .objects()
    )
    for attempt in attempts:
        attempt.step = step_label(attempt.kind)
    return attempts


def last_run():
    """The latest `send-reminders` run (finished or not), or None."""
    return ReminderRunLog.select().order_by(ReminderRunLog.started_at.desc(), ReminderRunLog.id.desc()).first()


def last_finished_at():
    """When the latest run finished, or None when none ever did."""
    return ReminderRunLog.select(fn.MAX(ReminderRunLog.finished_at)).scalar()


def runs_are_stale(last_finished, now, stale_hours):
    """True when no run finished within the last `stale_hours` hours (or none ever did)."""
    return last_finished is None or now - last_finished > timedelta(hours=stale_hours)
