"""One `send-reminders` run: arm the due reminders, then claim, send and record them batch by batch."""
import secrets
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic

from flask_mail import BadHeaderError
from peewee import Case, Tuple, Value, fn

from ..core import clock
from ..core.database import on_postgresql
from ..core.mail import MailSettingsError, check_settings, portal_url
from ..extensions import db
from ..licenses.models import License, LicenseVersion, Product
from ..licenses.rules import reminder_due, reminder_window
from ._delivery import Courier, describe_smtp_error, reminder_email
from ._due import (
    DETAIL_COLUMNS,
    KIND,
    account_seats,
    as_due,
    batch_size,
    claim_lease,
    claimable,
    due_license_join,
    due_reminders,
    is_claimable,
    reminder_for_version,
)
from .models import Reminder, ReminderAttempt


@dataclass
class RunSummary:
    """What one run did: sent, failed (attempted, not accepted) and skipped (due, not attempted)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    stopped: str = ""

    @property
    def line(self):
        return f"sent {self.sent}, failed {self.failed}, skipped {self.skipped}"


class ReminderRun:
    """One `send-reminders` run as of `today`: arm, then claim, send and record batch by batch."""

    def __init__(self, app, today):
        if app.extensions["mail"].suppress:
            raise MailSettingsError(
                "MAIL_SUPPRESS_SEND is on, so nothing would reach the mail server while the reminders "
                "were recorded as sent. Turn it off, or use --dry-run."
            )
        check_settings(app)
        self.app = app
        self.today = today
        self.token = secrets.token_hex(16)
        self.timeout = float(app.config["MAIL_TIMEOUT"])
        self.summary = RunSummary()

    def arm(self):
        """Create the pending reminder of every due license that has none; returns how many are due."""
        missing = (
            due_license_join(License.select(
                License.id, LicenseVersion.expires_on, Value(KIND), Value(Reminder.PENDING),
                LicenseVersion.contact_email, Value(0), Value(""), Value(clock.now()),
            ), self.today)
            .where(~fn.EXISTS(Reminder.select(Reminder.id).where(reminder_for_version())))
            # One order for every run, so concurrent inserts on PostgreSQL cannot deadlock.
            .order_by(License.id)
        )
        fields = [
            Reminder.license, Reminder.expires_on, Reminder.kind, Reminder.status,
            Reminder.recipient, Reminder.attempts, Reminder.last_error, Reminder.created_at,
        ]
        Reminder.insert_from(missing, fields).on_conflict_ignore().execute()
        return due_reminders([fn.COUNT(Reminder.id)], self.today).scalar()

    def send(self, progress=None, on_failure=None):
        """Send every due reminder this run can claim; returns the RunSummary."""
        after = (self.today - timedelta(days=1), 0)
        # Built once per run from PORTAL_URL: every reminder links to the same tab.
        licenses_url = portal_url("portal.licenses")
        first, last = reminder_window(self.today)
        while not self.summary.stopped:
            # Two steps, so the database walks the reminders' (expires_on, id) index instead of
            # every license version in the window: the next batch of unsent reminders, then their
            # licenses, still due. A fresh query each time: Peewee caches a query's results.
            window = list(
                Reminder.select(Reminder.id, Reminder.expires_on)
                .where(
                    Reminder.expires_on.between(first, last),
                    Reminder.kind == KIND,
                    Reminder.status != Reminder.SENT,
                    Tuple(Reminder.expires_on, Reminder.id) > Tuple(*after),
                )
                .order_by(Reminder.expires_on, Reminder.id)
                .limit(batch_size())
                .namedtuples()
            )
            if not window:
                break
            after = (window[-1].expires_on, window[-1].id)
            candidates = list(
                due_reminders(
                    [Reminder.id, Reminder.attempts, Reminder.claim_token, Reminder.claimed_at,
                     Reminder.recipient.alias("recipient_on_file"), *DETAIL_COLUMNS,
                     account_seats().alias("byol_users")],
                    self.today,
                )
                .join_from(License, Product, on=(License.product == Product.id))
                .where(Reminder.id.in_([row.id for row in window]))
                .order_by(Reminder.expires_on, Reminder.id)
                .namedtuples()
            )
            now = clock.now()
            mine = set(self._claim([row.id for row in candidates if is_claimable(row, now)], now))
            batch = [
                as_due(row, row.id, row.recipient_on_file, row.byol_users) for row in candidates
                if row.id in mine and reminder_due(row.expires_on, self.today)
            ]
            self.summary.skipped += len(candidates) - len(batch)
            if progress:
                progress(len(candidates) - len(batch))
            if mine:
                # Also when none is left to send: the claims still have to be released.
                self._send_batch(batch, mine, licenses_url, progress, on_failure)
        if self.summary.stopped:
            left = due_reminders([fn.COUNT(Reminder.id)], self.today).where(
                Tuple(Reminder.expires_on, Reminder.id) > Tuple(*after)
            ).scalar()
            self.summary.skipped += left
        return self.summary

    def _claim(self, ids, now):
        """Atomically take the reminders no other run holds; returns the ids now carrying our token."""
        if not ids:
            return []
        database = db.database
        claim = Reminder.update(claim_token=self.token, claimed_at=now)
        if on_postgresql():
            with database.atomic():
                ids = [
                    row.id for row in Reminder.select(Reminder.id)
                    .where(Reminder.id.in_(ids) & claimable(now))
                    .for_update(skip_locked=True)
                ]
                claimed = claim.where(Reminder.id.in_(ids) & claimable(now)).execute() if ids else 0
        else:
            # IMMEDIATE takes SQLite's write lock up front: no other run can claim in between.
            with database.atomic("IMMEDIATE"):
                claimed = claim.where(Reminder.id.in_(ids) & claimable(now)).execute()
        if claimed == len(ids):
            return ids
        # Some changed hands since the candidates were read: ask which carry our token.
        return [
            row.id for row in Reminder.select(Reminder.id)
            .where(Reminder.id.in_(ids) & (Reminder.claim_token == self.token))
        ]

    def _send_batch(self, batch, claimed, licenses_url, progress, on_failure):
        outcomes = []  # (due, recipient, attempt outcome, error text)
        # Stop at half the lease, so a batch never outlives its claim: the rest is released and
        # claimed again, never sent while another run could take it over.
        deadline = monotonic() + claim_lease().total_seconds() / 2
        courier = Courier(self.app.extensions["mail"], self.timeout)
        try:
            for due in batch:
                if monotonic() > deadline:
                    break
                try:
                    message = reminder_email(due, licenses_url)
                except (BadHeaderError, UnicodeError) as error:
                    outcome, error_text = ReminderAttempt.FAILED, describe_smtp_error(error, self.timeout)
                else:
                    outcome, error_text = courier.deliver(message)
                outcomes.append((due, due.contact_email, outcome, error_text))
                if progress:
                    progress(1)
                if outcome == ReminderAttempt.UNREACHABLE:
                    # The rest would fail the same way; they are released for the next run, untouched.
                    self.summary.stopped = error_text
                    break
        finally:
            courier.close()
            self._record(outcomes, claimed)
        # Past the deadline, or the server unreachable: the rest waits for a later run.
        self.summary.skipped += len(batch) - len(outcomes)
        for due, _, outcome, error in outcomes:
            if outcome == ReminderAttempt.SENT:
                self.summary.sent += 1
            else:
                self.summary.failed += 1
                if on_failure:
                    on_failure(due, outcome, error)

    def _record(self, outcomes, claimed):
        """Write the batch's attempts and outcomes, and release the batch's claims."""
        now = clock.now()
        sent = [due.reminder_id for due, _, outcome, _ in outcomes if outcome == ReminderAttempt.SENT]
        failed = [entry for entry in outcomes if entry[2] != ReminderAttempt.SENT]
        attempt_fields = [
            ReminderAttempt.reminder, ReminderAttempt.license, ReminderAttempt.expires_on, ReminderAttempt.recipient,
            ReminderAttempt.attempted_at, ReminderAttempt.outcome, ReminderAttempt.error,
        ]
        with db.database.atomic():
            # The contact on the form can change after the reminder was armed; rarely, so apart.
            moved = [(due.reminder_id, r) for due, r, _, _ in outcomes if r != due.recipient_on_file]
            if moved:
                Reminder.update(recipient=Case(Reminder.id, moved, Reminder.recipient)).where(
                    Reminder.id.in_([reminder_id for reminder_id, _ in moved])
                ).execute()
            if sent:
                # The attempt rows come from the reminder rows: a list of ids, not a row of values each.
                ReminderAttempt.insert_from(
                    Reminder.select(
                        Reminder.id, Reminder.license, Reminder.expires_on, Reminder.recipient,
                        Value(now), Value(ReminderAttempt.SENT), Value(""),
                    ).where(Reminder.id.in_(sent)),
                    attempt_fields,
                ).execute()
                Reminder.update(
                    status=Reminder.SENT, sent_at=now, attempts=Reminder.attempts + 1, last_error="",
                    claim_token=None, claimed_at=None,
                ).where(Reminder.id.in_(sent) & (Reminder.claim_token == self.token)).execute()
            if failed:
                ReminderAttempt.insert_many(
                    [(due.reminder_id, due.license_id, due.expires_on, recipient, now, outcome, error)
                     for due, recipient, outcome, error in failed],
                    attempt_fields,
                ).execute()
                changes = {
                    "status": Reminder.FAILED,
                    "last_error": Case(Reminder.id, [(due.reminder_id, e) for due, _, _, e in failed], ""),
                    "claim_token": None, "claimed_at": None,
                }
                # Only a refusal for the recipient uses up an attempt: an outage must not exhaust them.
                refused = [due.reminder_id for due, _, outcome, _ in failed if outcome == ReminderAttempt.FAILED]
                if refused:
                    changes["attempts"] = Case(None, [(Reminder.id.in_(refused), Reminder.attempts + 1)],
                                               Reminder.attempts)
                Reminder.update(**changes).where(
                    Reminder.id.in_([due.reminder_id for due, _, _, _ in failed]) & (Reminder.claim_token == self.token)
                ).execute()
            unattempted = set(claimed) - {due.reminder_id for due, _, _, _ in outcomes}
            if unattempted:
                Reminder.update(claim_token=None, claimed_at=None).where(
                    Reminder.id.in_(sorted(unattempted)) & (Reminder.claim_token == self.token)
                ).execute()
