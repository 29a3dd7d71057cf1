"""Reminders: one row per license, expiration date and kind; every attempt to send one; every run."""
from peewee import (
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from ..core.clock import utcnow
from ..extensions import db
from ..licenses.models import License


class Reminder(db.Model):
    """The reminder of one kind for one expiration date of one license: pending, sent or failed.

    The unique key (license, expires_on, kind) is what makes it exactly once: a renewal with a new
    date is a new key, and two runs cannot both create or both claim the same row.
    """

    EXPIRY_30_DAYS = "expiry-30-days"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"

    license = ForeignKeyField(License, backref="reminders", on_delete="CASCADE")
    expires_on = DateField()
    kind = CharField(max_length=32, default=EXPIRY_30_DAYS)
    status = CharField(max_length=16, default=PENDING)
    recipient = CharField(max_length=254, default="")
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    # A run owns the reminder while claim_token is its token and claimed_at is within the lease.
    claim_token = CharField(max_length=32, null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("license", "expires_on", "kind"), True),
            # The send loop walks the due ones in (expires_on, id) order, soonest first.
            (("expires_on", "id"), False),
        )

class ReminderAttempt(db.Model):
    """One try at sending a reminder: to whom, when, and what the mail server said.

    Only FAILED (the server refused the recipient or the message, or the address cannot be sent)
    uses up one of the reminder's REMINDER_MAX_ATTEMPTS: an outage must not exhaust them.
    """

    SENT = "sent"
    FAILED = "failed"
    # No session to send in: no connection, TLS or login failed, the sender was refused, or no answer
    # before any recipient was given.
    UNREACHABLE = "unreachable"
    # The connection dropped or timed out after the recipient was given, before a yes or a no.
    INTERRUPTED = "interrupted"

    reminder = ForeignKeyField(Reminder, backref="attempt_log", on_delete="CASCADE")
    license = ForeignKeyField(License, on_delete="CASCADE")
    expires_on = DateField()
    recipient = CharField(max_length=254)
    attempted_at = DateTimeField(default=utcnow)
    outcome = CharField(max_length=16)
    error = TextField(default="")

class ReminderRunLog(db.Model):
    """One `flask send-reminders` run: when it started and finished, what it did, and its exit status.

    Written when the run starts and again when it ends: a run that died leaves finished_at NULL.
    """

    started_at = DateTimeField(default=utcnow, index=True)
    finished_at = DateTimeField(null=True, index=True)
    run_date = DateField()
    sent = IntegerField(default=0)
    failed = IntegerField(default=0)
    skipped = IntegerField(default=0)
    exit_status = IntegerField(null=True)
    note = TextField(default="")
