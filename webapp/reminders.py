"""The 30-day reminder email: which are due, claiming them so two runs never send one twice, sending, recording.

A run (`ReminderRun`) goes through four steps:

1. arm: one INSERT ... SELECT gives every due (license, expiration date) a pending Reminder row; the
   unique key (license, expires_on, kind) turns a second run's insert into a no-op.
2. walk the due reminders in batches, soonest expiration first (keyset on (expires_on, id)), and claim
   each batch with a conditional UPDATE: in a BEGIN IMMEDIATE transaction on SQLite, after
   SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL. A reminder another run holds is skipped.
3. send the batch over one SMTP connection, every socket operation bounded by MAIL_TIMEOUT.
4. record the batch: an attempt row per try, each reminder sent or failed, every claim released.

Delivery is at-least-once: a run that dies after the mail server accepted a batch but before step 4
leaves its claims behind; once they are older than the lease the next run sends them again.
"""
import secrets
import smtplib
from binascii import b2a_qp
from dataclasses import dataclass
from datetime import timedelta
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from time import monotonic
from urllib.parse import urlsplit

from flask import current_app
from flask_mail import BadHeaderError, Connection, Message, sanitize_address
from peewee import JOIN, Case, PostgresqlDatabase, Tuple, Value, fn

from .extensions import db
from .filters import day
from .licensing import next_cycle_start, reminder_due, reminder_window
from .models import Account, License, LicenseVersion, Product, Reminder, ReminderAttempt, utcnow

KIND = Reminder.EXPIRY_30_DAYS
# A run owns a claimed reminder this long; a claim older than that belongs to a run that died.
DEFAULT_CLAIM_LEASE_SECONDS = 3600


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


@dataclass(frozen=True)
class DueReminder:
    """One reminder to send: the license's current terms and its account, as the email needs them."""

    reminder_id: int | None
    license_id: int
    account_id: int
    account_name: str
    billing_day: int
    product: str
    plan: str
    seats: int
    expires_on: object
    contact_name: str
    contact_email: str
    # The address the reminder row holds (from arming or the last attempt); "" in a dry run.
    recipient_on_file: str = ""


class MailSuppressed(RuntimeError):
    """MAIL_SUPPRESS_SEND is on: a run would record reminders as sent that never left."""


# --- which reminders are due --------------------------------------------------------------


def _claim_lease():
    return timedelta(seconds=float(current_app.config.get("REMINDER_CLAIM_LEASE", DEFAULT_CLAIM_LEASE_SECONDS)))


def _max_attempts():
    return int(current_app.config["REMINDER_MAX_ATTEMPTS"])


def _batch_size():
    return max(1, int(current_app.config["REMINDER_BATCH_SIZE"]))


def _on_postgresql():
    database = getattr(db.database, "obj", db.database)
    return isinstance(database, PostgresqlDatabase)


def _due_license_join(query, today):
    """Limit a query over License to current versions due on `today`, on active BYOL accounts."""
    first, last = reminder_window(today)
    return (
        query.join(LicenseVersion, on=(
            (LicenseVersion.license == License.id) & (License.current == LicenseVersion.id)
        ))
        .join_from(License, Account, on=(License.account == Account.id))
        .where(
            LicenseVersion.expires_on.between(first, last),
            Account.status == Account.ACTIVE,
            Account.byol_enrolled == True,  # noqa: E712
        )
    )


def _reminder_for_version():
    return (
        (Reminder.license == License.id)
        & (Reminder.expires_on == LicenseVersion.expires_on)
        & (Reminder.kind == KIND)
    )


def _due_reminders(columns, today):
    """Reminder rows, not sent, whose license is still due on `today` for that same expiration date."""
    query = Reminder.select(*columns).join(License, on=(Reminder.license == License.id))
    return _due_license_join(query, today).where(
        (LicenseVersion.expires_on == Reminder.expires_on)
        & (Reminder.kind == KIND)
        & (Reminder.status != Reminder.SENT)
    )


def _claimable(now):
    """SQL: not used up, and free or held by a run whose lease ran out."""
    return (
        (Reminder.status != Reminder.SENT)
        & (Reminder.attempts < _max_attempts())
        & (Reminder.claim_token.is_null() | (Reminder.claimed_at < now - _claim_lease()))
    )


def _is_claimable(row, now):
    if row.attempts >= _max_attempts():
        return False
    return row.claim_token is None or row.claimed_at < now - _claim_lease()


_DETAIL_COLUMNS = (
    License.id.alias("license_id"),
    Account.id.alias("account_id"),
    Account.name.alias("account_name"),
    Account.billing_day.alias("billing_day"),
    Product.name.alias("product"),
    License.plan.alias("plan"),
    LicenseVersion.seats.alias("seats"),
    LicenseVersion.expires_on.alias("expires_on"),
    LicenseVersion.contact_name.alias("contact_name"),
    LicenseVersion.contact_email.alias("contact_email"),
)


def _as_due(row, reminder_id, recipient_on_file=""):
    return DueReminder(
        reminder_id=reminder_id,
        license_id=row.license_id,
        account_id=row.account_id,
        account_name=row.account_name,
        billing_day=row.billing_day,
        product=row.product,
        plan=row.plan,
        seats=row.seats,
        expires_on=row.expires_on,
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        recipient_on_file=recipient_on_file,
    )


def preview(today):
    """(reminders a run would attempt on `today`, how many due ones it would skip); writes nothing."""
    now = utcnow()
    cutoff = now - _claim_lease()
    after = (today - timedelta(days=1), 0)
    skipped = 0
    planned = []
    while True:
        # A fresh query per batch: Peewee caches a query's results.
        query = _due_license_join(
            License.select(
                *_DETAIL_COLUMNS, Reminder.status.alias("status"), Reminder.attempts.alias("attempts"),
                Reminder.claim_token.alias("claim_token"), Reminder.claimed_at.alias("claimed_at"),
            ),
            today,
        ).join_from(License, Product, on=(License.product == Product.id))
        query = (
            query.join_from(License, Reminder, JOIN.LEFT_OUTER, on=_reminder_for_version())
            .where(
                Reminder.id.is_null() | (Reminder.status != Reminder.SENT),
                Tuple(LicenseVersion.expires_on, License.id) > Tuple(*after),
            )
            .order_by(LicenseVersion.expires_on, License.id)
            .limit(_batch_size())
            .namedtuples()
        )
        rows = list(query)
        if not rows:
            return planned, skipped
        after = (rows[-1].expires_on, rows[-1].license_id)
        for row in rows:
            fresh_claim = row.claim_token is not None and row.claimed_at >= cutoff
            if row.status is not None and (row.attempts >= _max_attempts() or fresh_claim):
                skipped += 1
            else:
                planned.append(_as_due(row, None))


def outstanding_reminders(account_id, today):
    """The account's reminders that were not sent, each with a note for staff on where it stands."""
    rows = (
        Reminder.select(Reminder, License.plan.alias("plan"), LicenseVersion.expires_on.alias("current_expires_on"))
        .join(License, on=(Reminder.license == License.id))
        .join(LicenseVersion, JOIN.LEFT_OUTER, on=(License.current == LicenseVersion.id))
        .where((License.account == account_id) & (Reminder.status != Reminder.SENT))
        .order_by(Reminder.expires_on.desc(), Reminder.id.desc())
        .objects()
    )
    return [(row, reminder_state(row, row.current_expires_on, today)) for row in rows]


def reminder_state(reminder, current_expires_on, today):
    """Where an unsent reminder stands, in words for staff."""
    limit = _max_attempts()
    if current_expires_on != reminder.expires_on:
        return "no longer needed: the license was updated with a new date"
    if today > reminder.expires_on:
        return "never delivered: the license has expired"
    if reminder.attempts >= limit:
        return f"gave up after {reminder.attempts} attempts"
    if reminder.attempts == 0:
        return "queued for the next run"
    return f"will be retried on the next run (attempt {reminder.attempts + 1} of {limit})"


# --- the email ------------------------------------------------------------------------------


def licenses_url():
    """The Client Licenses tab as an absolute URL built from PORTAL_URL, never from a request's Host."""
    portal = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(
        portal.netloc, script_name=portal.path or "/", url_scheme=portal.scheme or "https"
    )
    return adapter.build("portal.licenses", force_external=True)


def reminder_subject(due):
    """The subject names the plan and the date."""
    return f"{due.plan} expires on {day(due.expires_on)}: please update your proof of licensing"


def _header_text(value):
    # Customer input must not be able to add header lines.
    return " ".join(str(value).split())


def _encoded_header(value):
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode(linesep="\r\n")
    return value


def _address_header(name, address):
    """'Name <address>', encoded only when the name needs it (the email package's encoder is slow)."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        return formataddr((name, address), charset="utf-8")
    return formataddr((name, address))


def _qp_part(subtype, text):
    body = b2a_qp(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"), istext=True)
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + body + b"\r\n"


class ReminderMessage(Message):
    """A Flask-Mail message whose MIME text is put together directly.

    Flask-Mail builds it with the email package's generator, which costs more per message than the
    whole SMTP exchange (about 2 ms); this writes the same multipart/alternative in a few microseconds.
    """

    def __init__(self, *args, from_header, to_header, message_id_domain, **kwargs):
        super().__init__(*args, **kwargs)
        self.msgId = make_msgid(domain=message_id_domain)
        self.from_header = from_header
        self.to_header = to_header
        self._mime = None

    def as_bytes(self):
        if self._mime is None:
            boundary = f"=_reminder_{secrets.token_hex(12)}"
            headers = "\r\n".join((
                f"From: {self.from_header}",
                f"To: {self.to_header}",
                f"Subject: {_encoded_header(self.subject)}",
                f"Date: {formatdate(self.date, localtime=True)}",
                f"Message-ID: {self.msgId}",
                "MIME-Version: 1.0",
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
            ))
            delimiter = f"--{boundary}\r\n".encode("ascii")
            self._mime = b"".join((
                headers.encode("ascii"), b"\r\n\r\n",
                delimiter, _qp_part("plain", self.body),
                delimiter, _qp_part("html", self.html),
                f"--{boundary}--\r\n".encode("ascii"),
            ))
        return self._mime

    def as_string(self):
        return self.as_bytes().decode("ascii")


class ReminderComposer:
    """Renders reminder emails; the templates and the settings are looked up once per run."""

    def __init__(self, app):
        self.text = app.jinja_env.get_template("email/reminder.txt")
        self.html = app.jinja_env.get_template("email/reminder.html")
        self.url = licenses_url()
        self.provider = app.config["PROVIDER_NAME"]
        self.support = app.config["SUPPORT_EMAIL"]
        sender = app.extensions["mail"].default_sender or ""
        self.from_header = sanitize_address(sender)
        # The envelope takes the bare address; the From header keeps the name.
        self.sender = parseaddr(self.from_header)[1]
        self.message_id_domain = self.sender.rpartition("@")[2] or "localhost"

    def context(self, due, byol_users):
        return {
            "due": due,
            "byol_users": byol_users,
            "subscription_from": next_cycle_start(due.expires_on, due.billing_day),
            "licenses_url": self.url,
            "provider_name": self.provider,
            "support_email": self.support,
        }

    def message(self, due, byol_users):
        """The reminder for one license, text and HTML, to the contact person on its form."""
        context = self.context(due, byol_users)
        return ReminderMessage(
            subject=_header_text(reminder_subject(due)),
            recipients=[due.contact_email],
            body=self.text.render(context),
            html=self.html.render(context),
            sender=self.sender,
            from_header=self.from_header,
            to_header=_address_header(_header_text(due.contact_name), due.contact_email),
            message_id_domain=self.message_id_domain,
        )


# --- SMTP -----------------------------------------------------------------------------------


class TimedConnection(Connection):
    """Flask-Mail's SMTP connection, with a socket timeout on every operation (Flask-Mail 0.10 sets none)."""

    def __init__(self, mail_state, timeout):
        super().__init__(mail_state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = smtp_class(state.server, state.port, timeout=self.timeout)
        try:
            host.set_debuglevel(int(state.debug))
            if state.use_tls:
                host.starttls()
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    @property
    def is_open(self):
        return self.host is not None and self.host.sock is not None

    def close(self, polite=True):
        """End the session; QUIT only when the server is known to be answering. Never raises."""
        host, self.host = self.host, None
        if host is None:
            return
        try:
            if polite and host.sock is not None:
                host.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            host.close()

    def __exit__(self, exc_type, exc_value, tb):
        self.close(polite=exc_type is None)


def describe_smtp_error(error, timeout):
    """The error text recorded for staff: the server's code and words when it gave any."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"recipient refused: {code} {_decoded(text)}" for code, text in error.recipients.values()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decoded(error.smtp_error)}"
    # smtplib reports a read that timed out as a disconnect; the timeout is its cause.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return f"no answer from the mail server within {timeout:g} s"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"the mail server closed the connection ({error})"
    if isinstance(error, BadHeaderError):
        return "the contact's address or name contains a line break"
    return f"{error.__class__.__name__}: {error}"


def _decoded(text):
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


# --- a run ----------------------------------------------------------------------------------


class ReminderRun:
    """One `send-reminders` run as of `today`: arm, then claim, send and record batch by batch."""

    def __init__(self, app, today):
        if app.extensions["mail"].suppress:
            raise MailSuppressed(
                "MAIL_SUPPRESS_SEND is on, so nothing would reach the mail server while the reminders "
                "were recorded as sent. Turn it off, or use --dry-run."
            )
        self.app = app
        self.today = today
        self.token = secrets.token_hex(16)
        self.timeout = float(app.config["MAIL_TIMEOUT"])
        self.summary = RunSummary()

    def arm(self):
        """Create the pending reminder of every due license that has none; returns how many are due."""
        missing = (
            _due_license_join(License.select(
                License.id, LicenseVersion.expires_on, Value(KIND), Value(Reminder.PENDING),
                LicenseVersion.contact_email, Value(0), Value(""), Value(utcnow()),
            ), self.today)
            .where(~fn.EXISTS(Reminder.select(Reminder.id).where(_reminder_for_version())))
            # One order for every run, so concurrent inserts on PostgreSQL cannot deadlock.
            .order_by(License.id)
        )
        fields = [
            Reminder.license, Reminder.expires_on, Reminder.kind, Reminder.status,
            Reminder.recipient, Reminder.attempts, Reminder.last_error, Reminder.created_at,
        ]
        Reminder.insert_from(missing, fields).on_conflict_ignore().execute()
        return _due_reminders([fn.COUNT(Reminder.id)], self.today).scalar()

    def send(self, progress=None, on_failure=None):
        """Send every due reminder this run can claim; returns the RunSummary."""
        after = (self.today - timedelta(days=1), 0)
        composer = ReminderComposer(self.app)
        while not self.summary.stopped:
            # A fresh query per batch: Peewee caches a query's results.
            candidates = list(
                _due_reminders(
                    [Reminder.id, Reminder.attempts, Reminder.claim_token, Reminder.claimed_at,
                     Reminder.recipient.alias("recipient_on_file"), *_DETAIL_COLUMNS],
                    self.today,
                )
                .join_from(License, Product, on=(License.product == Product.id))
                .where(Tuple(Reminder.expires_on, Reminder.id) > Tuple(*after))
                .order_by(Reminder.expires_on, Reminder.id)
                .limit(_batch_size())
                .namedtuples()
            )
            if not candidates:
                break
            after = (candidates[-1].expires_on, candidates[-1].id)
            now = utcnow()
            mine = set(self._claim([row.id for row in candidates if _is_claimable(row, now)], now))
            batch = [
                _as_due(row, row.id, row.recipient_on_file) for row in candidates
                if row.id in mine and reminder_due(row.expires_on, self.today)
            ]
            self.summary.skipped += len(candidates) - len(batch)
            if progress:
                progress(len(candidates) - len(batch))
            if mine:
                # Also when none is left to send: the claims still have to be released.
                self._send_batch(batch, composer, progress, on_failure)
        if self.summary.stopped:
            left = _due_reminders([fn.COUNT(Reminder.id)], self.today).where(
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
        if _on_postgresql():
            with database.atomic():
                locked = [
                    row.id for row in Reminder.select(Reminder.id)
                    .where(Reminder.id.in_(ids) & _claimable(now))
                    .for_update(skip_locked=True)
                ]
                if locked:
                    claim.where(Reminder.id.in_(locked) & _claimable(now)).execute()
        else:
            # IMMEDIATE takes SQLite's write lock up front: no other run can claim in between.
            with database.atomic("IMMEDIATE"):
                claim.where(Reminder.id.in_(ids) & _claimable(now)).execute()
        return [
            row.id for row in Reminder.select(Reminder.id)
            .where(Reminder.id.in_(ids) & (Reminder.claim_token == self.token))
        ]

    def _byol_users(self, batch):
        """{account id: seats over all its licenses}: every one of them moves if one plan lapses."""
        account_ids = sorted({due.account_id for due in batch})
        query = (
            License.select(License.account.alias("account_id"), fn.SUM(LicenseVersion.seats).alias("seats"))
            .join(LicenseVersion, on=(License.current == LicenseVersion.id))
            .where(License.account.in_(account_ids))
            .group_by(License.account)
            .namedtuples()
        )
        return {row.account_id: int(row.seats) for row in query}

    def _send_batch(self, batch, composer, progress, on_failure):
        byol_users = self._byol_users(batch)
        outcomes = []  # (due, recipient, error or None)
        # Stop at half the lease, so a batch never outlives its claim: the rest is released and
        # claimed again, never sent while another run could take it over.
        deadline = monotonic() + _claim_lease().total_seconds() / 2
        connection = None
        try:
            for index, due in enumerate(batch):
                if monotonic() > deadline:
                    break
                message = composer.message(due, byol_users.get(due.account_id, due.seats))
                if connection is None or not connection.is_open:
                    connection = TimedConnection(self.app.extensions["mail"], self.timeout)
                    try:
                        connection.__enter__()
                    except (smtplib.SMTPException, OSError) as error:
                        connection = None
                        state = self.app.extensions["mail"]
                        reason = (
                            f"could not connect to the mail server {state.server}:{state.port}: "
                            f"{describe_smtp_error(error, self.timeout)}"
                        )
                        for rest in batch[index:]:
                            outcomes.append((rest, rest.contact_email, reason))
                        self.summary.stopped = reason
                        break
                try:
                    connection.send(message)
                except (smtplib.SMTPException, OSError, BadHeaderError, UnicodeError) as error:
                    outcomes.append((due, due.contact_email, describe_smtp_error(error, self.timeout)))
                    if not isinstance(error, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused,
                                              BadHeaderError, UnicodeError)):
                        # Timed out or dropped mid-conversation: the session state is unknown.
                        connection.close(polite=False)
                else:
                    outcomes.append((due, due.contact_email, None))
                if progress:
                    progress(1)
        finally:
            if connection is not None:
                connection.close(polite=connection.is_open)
            self._record(outcomes)
        # Past the deadline, or the server unreachable: the rest waits for a later run.
        if not self.summary.stopped:
            self.summary.skipped += len(batch) - len(outcomes)
        for due, recipient, error in outcomes:
            if error is None:
                self.summary.sent += 1
            else:
                self.summary.failed += 1
                if on_failure:
                    on_failure(due, error)

    def _record(self, outcomes):
        """Write the batch's attempts and outcomes, and release every claim this run holds."""
        now = utcnow()
        sent = [(due, recipient) for due, recipient, error in outcomes if error is None]
        failed = [(due, recipient, error) for due, recipient, error in outcomes if error is not None]
        with db.database.atomic():
            if outcomes:
                ReminderAttempt.insert_many(
                    [
                        {
                            ReminderAttempt.reminder: due.reminder_id,
                            ReminderAttempt.license: due.license_id,
                            ReminderAttempt.expires_on: due.expires_on,
                            ReminderAttempt.recipient: recipient,
                            ReminderAttempt.attempted_at: now,
                            ReminderAttempt.outcome: ReminderAttempt.FAILED if error else ReminderAttempt.SENT,
                            ReminderAttempt.error: error or "",
                        }
                        for due, recipient, error in outcomes
                    ]
                ).execute()
            if sent:
                Reminder.update(
                    status=Reminder.SENT, sent_at=now, attempts=Reminder.attempts + 1, last_error="",
                ).where(
                    Reminder.id.in_([due.reminder_id for due, _ in sent]) & (Reminder.claim_token == self.token)
                ).execute()
            if failed:
                Reminder.update(
                    status=Reminder.FAILED,
                    attempts=Reminder.attempts + 1,
                    last_error=Case(Reminder.id, [(due.reminder_id, e) for due, _, e in failed], ""),
                ).where(
                    Reminder.id.in_([due.reminder_id for due, _, _ in failed]) & (Reminder.claim_token == self.token)
                ).execute()
            # The contact on the form can change after the reminder was armed; rarely, so apart.
            moved = [(due.reminder_id, r) for due, r, _ in outcomes if r != due.recipient_on_file]
            if moved:
                Reminder.update(recipient=Case(Reminder.id, moved, Reminder.recipient)).where(
                    Reminder.id.in_([reminder_id for reminder_id, _ in moved]) & (Reminder.claim_token == self.token)
                ).execute()
            Reminder.update(claim_token=None, claimed_at=None).where(Reminder.claim_token == self.token).execute()
