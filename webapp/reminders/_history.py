"""Reminder history: the last reminder each license got, every attempt of a license, and the log of runs."""
from datetime import datetime, timedelta
from typing import NamedTuple

from peewee import fn

from .. import audit
from ..core.clock import utcnow
from ..core.compiled_sql import CompiledSelect, RowShape, placeholder
from ..extensions import db
from ..licenses.models import License
from .models import ReminderAttempt, ReminderRunLog


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


def attempts_of(license_id):
    """Every attempt at a license's reminders, newest first."""
    return list(
        ReminderAttempt.select()
        .where(ReminderAttempt.license == license_id)
        .order_by(ReminderAttempt.attempted_at.desc(), ReminderAttempt.id.desc())
    )


def last_run():
    """The latest `send-reminders` run (finished or not), or None."""
    return ReminderRunLog.select().order_by(ReminderRunLog.started_at.desc(), ReminderRunLog.id.desc()).first()


def last_finished_at():
    """When the latest run finished, or None when none ever did."""
    return ReminderRunLog.select(fn.MAX(ReminderRunLog.finished_at)).scalar()


def runs_are_stale(last_finished, now, stale_hours):
    """True when no run finished within the last `stale_hours` hours (or none ever did)."""
    return last_finished is None or now - last_finished > timedelta(hours=stale_hours)
