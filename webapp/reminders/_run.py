"""One `send-reminders` run: arm the due reminders, then claim, send and record them batch by batch."""
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from time import monotonic

from flask_mail import BadHeaderError
from peewee import Case, Tuple, Value, fn

from ..core import clock
from ..core.database import on_postgresql
from ..core.mail import MailSettingsError, check_settings, portal_url
from ..extensions import db
from ..accounts.models import User
from ..licenses import store as license_store
from ..licenses.models import License, LicenseVersion, Product
from ..licenses.rules import byol_status
from ._delivery import Courier, describe_smtp_error, reminder_email
from ._due import (
    DETAIL_COLUMNS,
    USER_COLUMNS,
    as_due,
    batch_size,
    claim_lease,
    claimable,
    due_bounds,
    due_kind,
    due_license_join,
    due_reminders,
    escalates,
    escalation_users,
    is_claimable,
    kind_due,
    kind_windows,
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
        """Create the pending message of every due license and person that has none; returns how many are due.

        One INSERT ... SELECT per kind of the schedule due today (and one more for the authorized users of
        a kind that escalates): the unique key turns a concurrent run's same insert into a no-op.
        """
        now = clock.now()
        fields = [
            Reminder.license, Reminder.expires_on, Reminder.kind, Reminder.status, Reminder.recipient,
            Reminder.attempts, Reminder.last_error, Reminder.created_at, Reminder.audience,
        ]
        for kind, first, last in kind_windows(self.today):
            existing = Reminder.alias()
            exists = existing.select(existing.id).where(
                (existing.license == License.id) & (existing.expires_on == LicenseVersion.expires_on)
                & (existing.kind == kind) & (existing.audience == Reminder.CONTACT)
            )
            contacts = (
                due_license_join(License.select(
                    License.id, LicenseVersion.expires_on, Value(kind), Value(Reminder.PENDING),
                    LicenseVersion.contact_email, Value(0), Value(""), Value(now), Value(Reminder.CONTACT),
                ))
                .where(LicenseVersion.expires_on.between(first, last), ~fn.EXISTS(exists))
                # One order for every run, so concurrent inserts on PostgreSQL cannot deadlock.
                .order_by(License.id)
            )
            Reminder.insert_from(contacts, fields).on_conflict_ignore().execute()
            if not escalates(kind):
                continue
            exists = existing.select(existing.id).where(
                (existing.license == License.id) & (existing.expires_on == LicenseVersion.expires_on)
                & (existing.kind == kind) & (existing.audience == User.id)
            )
            users = (
                due_license_join(License.select(
                    License.id, LicenseVersion.expires_on, Value(kind), Value(Reminder.PENDING),
                    User.email, Value(0), Value(""), Value(now), User.id,
                ))
                .join_from(License, User, on=escalation_users())
                .where(LicenseVersion.expires_on.between(first, last), ~fn.EXISTS(exists))
                .order_by(License.id, User.id)
            )
            Reminder.insert_from(users, fields).on_conflict_ignore().execute()
        return due_reminders([fn.COUNT(Reminder.id)], self.today).scalar()

    def send(self, progress=None, on_failure=None):
        """Send every due reminder this run can claim; returns the RunSummary."""
        first, last = due_bounds(self.today)
        after = (first - timedelta(days=1), 0)
        # Built once per run from PORTAL_URL: every reminder links to the same tab.
        licenses_url = portal_url("portal.licenses")
        while not self.summary.stopped:
            # Two steps, so the database walks the reminders' (expires_on, id) index instead of
            # every license version in the window: the next batch of unsent reminders, then their
            # licenses, still due. A fresh query each time: Peewee caches a query's results.
            window = list(
                Reminder.select(Reminder.id, Reminder.expires_on)
                .where(
                    due_kind(Reminder.kind, Reminder.expires_on, self.today),
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
                    [Reminder.id, Reminder.attempts, Reminder.claim_token, Reminder.claimed_at, Reminder.kind,
                     Reminder.audience, Reminder.recipient.alias("recipient_on_file"), *DETAIL_COLUMNS,
                     *USER_COLUMNS],
                    self.today,
                )
                .join_from(License, Product, on=(License.product == Product.id))
                .where(Reminder.id.in_([row.id for row in window]))
                .order_by(Reminder.expires_on, Reminder.id)
                .namedtuples()
            )
            now = clock.now()
            mine = set(self._claim([row.id for row in candidates if is_claimable(row, now)], now))
            batch = self._with_positions([
                as_due(row, row.id, row.recipient_on_file, kind=row.kind, audience=row.audience,
                       user_email=row.user_email, user_name=row.user_name)
                for row in candidates
                if row.id in mine and kind_due(row.expires_on, self.today) == row.kind
            ])
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

    def _with_positions(self, batch):
        """The batch, each with its account's BYOL status as of the run: one query for the batch's accounts."""
        if not batch:
            return batch
        terms = license_store.terms_by_account(
            sorted({due.account_id for due in batch}), self.app.config["BUSINESS_TIMEZONE"],
            self.app.config["PROOF_MUST_BE_ACCEPTED"])
        positions = {}
        for due in batch:
            if due.account_id not in positions:
                positions[due.account_id] = byol_status(terms.get(due.account_id, []), self.today, due.billing_day)
        return [
            replace(due, position=positions[due.account_id], byol_users=positions[due.account_id].seats or due.seats)
            for due in batch
        ]

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
                outcomes.append((due, due.recipient_email, outcome, error_text))
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
