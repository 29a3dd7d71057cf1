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
    """One message of one kind for one expiration date of one license, to one person: pending, sent or failed.

    The kind is a step of the schedule (`expiry-<days>-days`, REMINDER_DAYS) or the lapse notice. The
    audience is the contact person on the form (0) or an authorized user of the account (their user id),
    when the step escalates. The unique key (license, expires_on, kind, audience) is what makes it
    exactly once: a renewal with a new date is a new key, and two runs cannot both create or both claim
    the same row.
    """

    EXPIRY_30_DAYS = "expiry-30-days"
    LAPSE_NOTICE = "lapse-notice"
    CONTACT = 0
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"

    license = ForeignKeyField(License, backref="reminders", on_delete="CASCADE")
    expires_on = DateField()
    kind = CharField(max_length=32, default=EXPIRY_30_DAYS)
    # 0: the contact on the license's current form; otherwise the id of the authorized user it goes to.
    audience = IntegerField(default=CONTACT)
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
            (("license", "expires_on", "kind", "audience"), True),
            # The send loop walks the due ones in (expires_on, id) order, soonest first.
            (("expires_on", "id"), False),
        )

    @staticmethod
    def step_kind(days):
        """The kind of the schedule's step `days` before expiration."""
        return f"expiry-{days}-days"

    @staticmethod
    def step_of(kind):
        """The days of a step's kind ("expiry-14-days" is 14); None for the lapse notice."""
        if kind.startswith("expiry-") and kind.endswith("-days"):
            return int(kind[len("expiry-"):-len("-days")])
        return None

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
