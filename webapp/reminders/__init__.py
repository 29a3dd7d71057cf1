"""The 30-day reminder email: which are due, claiming them so two runs never send one twice, sending, recording.

A run (`ReminderRun`) goes through four steps:

1. arm: one INSERT ... SELECT gives every due (license, expiration date) a pending Reminder row; the
   unique key (license, expires_on, kind) turns a second run's insert into a no-op.
2. walk the due reminders in batches, soonest expiration first (keyset on (expires_on, id)), and claim
   each batch with a conditional UPDATE: in a BEGIN IMMEDIATE transaction on SQLite, after
   SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL. A reminder another run holds is skipped.
3. send the batch over one SMTP connection: each reminder is the templates/email/reminder.txt/.html
   pair built by webapp.core.mail, every SMTP step bounded by MAIL_TIMEOUT.
4. record the batch: an attempt row per try, each reminder sent or failed, every claim released.

Delivery is at-least-once: a run that dies after the mail server accepted a batch but before step 4
leaves its claims behind; once they are older than the lease the next run sends them again.

The parts, private to this package (other features use what this module exports): `_due` (which
reminders are due, and the queries a run claims with), `_delivery` (the email and its SMTP outcome),
`_run` (arming, claiming, sending and recording), `_history` (what was sent, every attempt, the runs).
"""
from ..core.mail import MailSettingsError
from ._delivery import reminder_email
from ._due import DueReminder, outstanding_reminders, preview, reminder_state
from ._history import (
    attempts_of,
    last_finished_at,
    last_run,
    last_sent_reminders,
    record_run_end,
    record_run_refused,
    record_run_start,
    runs_are_stale,
)
from ._run import ReminderRun, RunSummary

__all__ = ["DueReminder", "MailSettingsError", "ReminderRun", "RunSummary", "attempts_of", "last_finished_at",
           "last_run", "last_sent_reminders", "outstanding_reminders", "preview", "record_run_end", "record_run_refused",
           "record_run_start", "reminder_email",
           "reminder_state", "runs_are_stale"]
