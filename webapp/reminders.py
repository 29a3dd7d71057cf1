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
import re
import secrets
import smtplib
from binascii import b2a_qp
from copy import copy
from dataclasses import dataclass
from functools import partial
from datetime import date, timedelta
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from time import monotonic, time
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_mail import BadHeaderError, Connection, Message, email_dispatched, sanitize_address
from peewee import JOIN, Case, Tuple, Value, fn

from .extensions import db
from .filters import day
from .licensing import next_cycle_start, reminder_due, reminder_window
from .models import Account, License, LicenseVersion, Product, Reminder, ReminderAttempt, on_postgresql, utcnow
from .text import printable

KIND = Reminder.EXPIRY_30_DAYS
# RFC 5322: a line of a message is at most 998 characters.
MAX_LINE = 998


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
    expires_on: date
    contact_name: str
    contact_email: str
    # The address the reminder row holds (from arming or the last attempt); "" in a dry run.
    recipient_on_file: str = ""
    # Seats over all the account's licenses: every one of those users moves if one plan lapses.
    byol_users: int = 0


class MailSettingsError(RuntimeError):
    """The mail settings cannot send reminders (suppressed, or no sender address)."""


# --- which reminders are due --------------------------------------------------------------


def _claim_lease():
    return timedelta(seconds=float(current_app.config["REMINDER_CLAIM_LEASE"]))


def _max_attempts():
    return int(current_app.config["REMINDER_MAX_ATTEMPTS"])


def _batch_size():
    return max(1, int(current_app.config["REMINDER_BATCH_SIZE"]))


def _due_license_join(query, today, window_on=LicenseVersion.expires_on):
    """Limit a query over License to current versions due on `today`, on active BYOL accounts.

    `window_on` is the column the date window applies to: the database starts from the table it
    constrains, so the walk over reminders puts it on Reminder.expires_on.
    """
    first, last = reminder_window(today)
    return (
        query.join(LicenseVersion, on=(
            (LicenseVersion.license == License.id) & (License.current == LicenseVersion.id)
        ))
        .join_from(License, Account, on=(License.account == Account.id))
        .where(
            window_on.between(first, last),
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
    return _due_license_join(query, today, window_on=Reminder.expires_on).where(
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


def _account_seats():
    """SQL, per row: the seats of every current license of the row's account."""
    other, other_version = License.alias(), LicenseVersion.alias()
    return (
        other_version.select(fn.SUM(other_version.seats))
        .join(other, on=((other_version.license == other.id) & (other.current == other_version.id)))
        .where(other.account == License.account)
    )


def _as_due(row, reminder_id, recipient_on_file="", byol_users=0):
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
        byol_users=int(byol_users or row.seats),
    )


def preview(today):
    """Each reminder due on `today` as (DueReminder, whether a run would attempt it); writes nothing."""
    now = utcnow()
    after = (today - timedelta(days=1), 0)
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
            return
        after = (rows[-1].expires_on, rows[-1].license_id)
        for row in rows:
            yield _as_due(row, None), row.status is None or _is_claimable(row, now)


def outstanding_reminders(account, today):
    """The account's reminders that were not sent, each with a note for staff on where it stands."""
    rows = (
        Reminder.select(Reminder, License.plan.alias("plan"), LicenseVersion.expires_on.alias("current_expires_on"))
        .join(License, on=(Reminder.license == License.id))
        .join(LicenseVersion, JOIN.LEFT_OUTER, on=(License.current == LicenseVersion.id))
        .where((License.account == account.id) & (Reminder.status != Reminder.SENT))
        .order_by(Reminder.expires_on.desc(), Reminder.id.desc())
        .objects()
    )
    return [(row, reminder_state(row, row.current_expires_on, account, today)) for row in rows]


def reminder_state(reminder, current_expires_on, account, today):
    """Where an unsent reminder stands, in words for staff."""
    limit = _max_attempts()
    if current_expires_on != reminder.expires_on:
        return "no longer needed: the license was updated with a new date"
    if reminder.attempts >= limit:
        return f"gave up after {reminder.attempts} attempts"
    if today > reminder.expires_on:
        return "never delivered: the license has expired"
    if not account.is_active or not account.byol_enrolled:
        return "on hold while the account is suspended or not enrolled in BYOL"
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
    # Customer input must not add header lines, nor carry escapes or bidi overrides into a mail client.
    return " ".join(printable(value).split())


def smtp_address(address):
    """The address as a mail server without SMTPUTF8 takes it: an internationalized domain
    IDNA-encoded (pat@bücher.example -> pat@xn--bcher-kva.example). One it cannot write in ASCII
    (letters beyond ASCII before the @, which the form refuses) is returned as it is, and fails alone."""
    if address.isascii():
        return address
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError:
        return address


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


def _body_part(subtype, text):
    """One text part: as it is (7bit) when it is plain ASCII in short lines, else quoted-printable."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if text.isascii() and max(map(len, lines)) <= MAX_LINE:
        encoding, body = "7bit", "\r\n".join(lines).encode("ascii")
    else:
        encoding, body = "quoted-printable", b2a_qp("\r\n".join(lines).encode("utf-8"), istext=True)
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + body + b"\r\n"


class ReminderMessage(Message):
    """A Flask-Mail message whose MIME text is written out directly.

    Flask-Mail builds it with the email package's generator, which costs about as much per message
    as the whole SMTP exchange; a reminder always has one shape (multipart/alternative, a text and an
    HTML part), so it is put together here in microseconds. Each reminder is a copy of one message
    made per run (`ReminderComposer.prototype`): Message.__init__ looks up the host's name for a
    Message-ID every time, and a reminder sets its own.
    """

    def __init__(self, *, sender, from_header, message_id_domain):
        super().__init__(sender=sender)
        self.from_header = from_header
        self.message_id_domain = message_id_domain
        self.to_header = ""
        self._mime = None

    def addressed(self, subject, recipient, to_header, body, html):
        """A copy of this message for one recipient, with its own subject, parts and Message-ID."""
        message = copy(self)
        message.subject = subject
        message.recipients = [recipient]
        message.to_header = to_header
        message.body = body
        message.alts = {"html": html}
        message.msgId = make_msgid(domain=self.message_id_domain)
        message.date = None
        message._mime = None
        return message

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
                delimiter, _body_part("plain", self.body),
                delimiter, _body_part("html", self.html),
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
        from_header = printable(sanitize_address(sender))
        # The envelope takes the bare address; the From header keeps the name.
        self.sender = parseaddr(from_header)[1]
        self.prototype = ReminderMessage(
            sender=self.sender, from_header=from_header,
            message_id_domain=self.sender.rpartition("@")[2] or "localhost",
        )

    def context(self, due):
        return {
            "due": due,
            "byol_users": due.byol_users,
            "subscription_from": next_cycle_start(due.expires_on, due.billing_day),
            "licenses_url": self.url,
            "provider_name": self.provider,
            "support_email": self.support,
        }

    def message(self, due):
        """The reminder for one license, text and HTML, to the contact person on its form."""
        context = self.context(due)
        recipient = smtp_address(due.contact_email)
        return self.prototype.addressed(
            subject=_header_text(reminder_subject(due)),
            recipient=recipient,
            to_header=_address_header(_header_text(due.contact_name), recipient),
            body=self.text.render(context),
            html=self.html.render(context),
        )


# --- SMTP -----------------------------------------------------------------------------------


class _WorkDuringData:
    """smtplib's DATA command, with room for other work between sending a message and reading the reply.

    That is where the mail server spends most of its time on a message; the run renders the next
    reminder meanwhile (`during_data`) instead of after, so rendering adds little to a run.
    """

    during_data = None  # a callable that does not raise
    # Whether the current message got as far as RCPT: a failure before that is the server's, not the recipient's.
    recipient_tried = False

    def rcpt(self, recip, options=()):
        self.recipient_tried = True
        return super().rcpt(recip, options)

    def data(self, msg):
        self.putcmd("data")
        code, reply = self.getreply()
        if self.debuglevel > 0:
            self._print_debug("data:", (code, reply))
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = msg.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")
        quoted = re.sub(rb"(?m)^\.", b"..", msg)  # dot-stuffing, as smtplib does
        if not quoted.endswith(b"\r\n"):
            quoted += b"\r\n"
        self.send(quoted + b".\r\n")
        if self.during_data is not None:
            self.during_data()
        code, reply = self.getreply()
        if self.debuglevel > 0:
            self._print_debug("data:", (code, reply))
        return code, reply


class ReminderSMTP(_WorkDuringData, smtplib.SMTP):
    """smtplib.SMTP whose DATA leaves room for rendering the next reminder."""


class ReminderSMTPSSL(_WorkDuringData, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL whose DATA leaves room for rendering the next reminder."""


class Lookahead:
    """The batch's messages, each rendered one step ahead of sending when the SMTP dialogue allows it."""

    def __init__(self, batch, compose):
        self.batch = batch
        self.compose = compose
        self.ready = {}

    def prepare(self, index):
        """Render message `index` now; an error is kept and raised when the message is taken."""
        if index < len(self.batch) and index not in self.ready:
            try:
                message = self.compose(self.batch[index])
                message.date = time()
                message.as_bytes()
            except Exception as error:
                # Raised by take(), in the sender's own flow, not in the middle of an SMTP reply.
                message = error
            self.ready[index] = message

    def take(self, index):
        """Message `index`, rendered now if it was not yet."""
        self.prepare(index)
        message = self.ready.pop(index)
        if isinstance(message, Exception):
            raise message
        return message


class TimedConnection(Connection):
    """Flask-Mail's SMTP connection, with a socket timeout on every operation (Flask-Mail 0.10 sets none)."""

    def __init__(self, mail_state, timeout):
        super().__init__(mail_state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        smtp_class = ReminderSMTPSSL if state.use_ssl else ReminderSMTP
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

    def send(self, message, envelope_from=None):
        """Flask-Mail's send; a ReminderMessage's addresses are bare and checked, so no parsing again.

        MAIL_MAX_EMAILS does not apply: a run opens a connection per batch (REMINDER_BATCH_SIZE).
        """
        if not isinstance(message, ReminderMessage) or envelope_from is not None:
            return super().send(message, envelope_from)
        if message.has_bad_headers():
            raise BadHeaderError
        if message.date is None:
            message.date = time()
        if self.host is not None:
            self.host.sendmail(message.sender, message.recipients, message.as_bytes(),
                               message.mail_options, message.rcpt_options)
        email_dispatched.send(current_app._get_current_object(), message=message)

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


def delivery_outcome(error, recipient_tried):
    """The attempt outcome of a send that raised `error`; only FAILED uses up an attempt.

    FAILED is a refusal for the recipient: a 4xx/5xx answer to RCPT or DATA, or an address this mail
    setup cannot send. Anything else is the mail server's trouble: UNREACHABLE before any recipient
    was given, INTERRUPTED after.
    """
    if isinstance(error, (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, BadHeaderError, UnicodeError)):
        return ReminderAttempt.FAILED
    return ReminderAttempt.INTERRUPTED if recipient_tried else ReminderAttempt.UNREACHABLE


class Courier:
    """Delivers messages over one SMTP session at a time and tells how each went."""

    def __init__(self, mail_state, timeout):
        self.mail = mail_state
        self.timeout = timeout
        self.connection = None

    def deliver(self, message, during_data):
        """(outcome, error text) for one message: SENT, FAILED, INTERRUPTED or UNREACHABLE."""
        # A session that served earlier messages may have been closed by the server since (many close
        # after so many messages): one more try on a fresh session before calling the server unreachable.
        for may_retry in (True, False):
            fresh = self.connection is None or not self.connection.is_open
            if fresh:
                connection = TimedConnection(self.mail, self.timeout)
                try:
                    self.connection = connection.__enter__()
                except (smtplib.SMTPException, OSError) as error:
                    return ReminderAttempt.UNREACHABLE, (
                        f"could not connect to the mail server {self.mail.server}:{self.mail.port}: "
                        f"{describe_smtp_error(error, self.timeout)}"
                    )
            host = self.connection.host
            host.during_data = during_data
            host.recipient_tried = False
            try:
                self.connection.send(message)
            except (smtplib.SMTPException, OSError, BadHeaderError, UnicodeError) as error:
                outcome = delivery_outcome(error, host.recipient_tried)
                if not isinstance(error, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused,
                                          BadHeaderError)):
                    # Timed out, dropped, or stopped mid-transaction: the session state is unknown.
                    self.connection.close(polite=False)
                if outcome == ReminderAttempt.UNREACHABLE and may_retry and not fresh:
                    self.connection.close(polite=False)
                    continue
                detail = describe_smtp_error(error, self.timeout)
                if outcome == ReminderAttempt.UNREACHABLE:
                    detail = f"the mail server {self.mail.server}:{self.mail.port} took no message: {detail}"
                return outcome, detail
            return ReminderAttempt.SENT, ""

    def close(self):
        if self.connection is not None:
            self.connection.close(polite=self.connection.is_open)
            self.connection = None


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
    if isinstance(error, UnicodeError):
        return "the contact's address has non-ASCII characters, which this mail setup cannot send"
    return f"{error.__class__.__name__}: {error}"


def _decoded(text):
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


# --- a run ----------------------------------------------------------------------------------


class ReminderRun:
    """One `send-reminders` run as of `today`: arm, then claim, send and record batch by batch."""

    def __init__(self, app, today):
        if app.extensions["mail"].suppress:
            raise MailSettingsError(
                "MAIL_SUPPRESS_SEND is on, so nothing would reach the mail server while the reminders "
                "were recorded as sent. Turn it off, or use --dry-run."
            )
        if not parseaddr(sanitize_address(app.extensions["mail"].default_sender or ""))[1]:
            raise MailSettingsError("MAIL_DEFAULT_SENDER is not set: reminders need a From address.")
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
                .limit(_batch_size())
                .namedtuples()
            )
            if not window:
                break
            after = (window[-1].expires_on, window[-1].id)
            candidates = list(
                _due_reminders(
                    [Reminder.id, Reminder.attempts, Reminder.claim_token, Reminder.claimed_at,
                     Reminder.recipient.alias("recipient_on_file"), *_DETAIL_COLUMNS,
                     _account_seats().alias("byol_users")],
                    self.today,
                )
                .join_from(License, Product, on=(License.product == Product.id))
                .where(Reminder.id.in_([row.id for row in window]))
                .order_by(Reminder.expires_on, Reminder.id)
                .namedtuples()
            )
            now = utcnow()
            mine = set(self._claim([row.id for row in candidates if _is_claimable(row, now)], now))
            batch = [
                _as_due(row, row.id, row.recipient_on_file, row.byol_users) for row in candidates
                if row.id in mine and reminder_due(row.expires_on, self.today)
            ]
            self.summary.skipped += len(candidates) - len(batch)
            if progress:
                progress(len(candidates) - len(batch))
            if mine:
                # Also when none is left to send: the claims still have to be released.
                self._send_batch(batch, mine, composer, progress, on_failure)
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
        if on_postgresql():
            with database.atomic():
                ids = [
                    row.id for row in Reminder.select(Reminder.id)
                    .where(Reminder.id.in_(ids) & _claimable(now))
                    .for_update(skip_locked=True)
                ]
                claimed = claim.where(Reminder.id.in_(ids) & _claimable(now)).execute() if ids else 0
        else:
            # IMMEDIATE takes SQLite's write lock up front: no other run can claim in between.
            with database.atomic("IMMEDIATE"):
                claimed = claim.where(Reminder.id.in_(ids) & _claimable(now)).execute()
        if claimed == len(ids):
            return ids
        # Some changed hands since the candidates were read: ask which carry our token.
        return [
            row.id for row in Reminder.select(Reminder.id)
            .where(Reminder.id.in_(ids) & (Reminder.claim_token == self.token))
        ]

    def _send_batch(self, batch, claimed, composer, progress, on_failure):
        outcomes = []  # (due, recipient, attempt outcome, error text)
        # Stop at half the lease, so a batch never outlives its claim: the rest is released and
        # claimed again, never sent while another run could take it over.
        deadline = monotonic() + _claim_lease().total_seconds() / 2
        courier = Courier(self.app.extensions["mail"], self.timeout)
        ahead = Lookahead(batch, composer.message)
        try:
            for index, due in enumerate(batch):
                if monotonic() > deadline:
                    break
                try:
                    message = ahead.take(index)
                except (BadHeaderError, UnicodeError) as error:
                    outcome, error_text = ReminderAttempt.FAILED, describe_smtp_error(error, self.timeout)
                else:
                    outcome, error_text = courier.deliver(message, partial(ahead.prepare, index + 1))
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
        now = utcnow()
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
