"""The reminder email and its delivery: built by webapp.core.mail from templates/email/reminder.txt/.html,
sent over one SMTP session per batch, each try sorted into an attempt outcome."""
import smtplib

from flask_mail import BadHeaderError

from ..core.filters import day
from ..core.mail import TimedConnection, build_email
from ..licenses.rules import next_cycle_start, where_account_stands
from .models import Reminder, ReminderAttempt


def reminder_subject(due):
    """The subject names the plan and the date."""
    if due.kind == Reminder.LAPSE_NOTICE:
        return f"{due.plan} expired on {day(due.expires_on)}: BYOL billing has lapsed"
    return f"{due.plan} expires on {day(due.expires_on)}: please update your proof of licensing"


def reminder_email(due, licenses_url):
    """The reminder or lapse notice for one license, text and HTML, to one person: the contact on its form,
    or an authorized user of the account it escalates to. It states where the account really stands."""
    position = due.position
    # Other plans that already break BYOL (licenses.rules.where_account_stands, as the banner says it):
    # then renewing this one alone does not bring BYOL back.
    stands = where_account_stands(position, due.plan) if position is not None else None
    others = tuple(lic for lic in position.broken if lic.plan != due.plan) if stands and stands.lapsed_by_others else ()
    if position is not None and not position.valid and position.subscription_from is not None and (
            others or due.kind == Reminder.LAPSE_NOTICE):
        subscription_from, already_moved = position.subscription_from, position.already_moved
    else:
        subscription_from = next_cycle_start(due.expires_on, due.billing_day)
        already_moved = False
    return build_email(
        "lapse_notice" if due.kind == Reminder.LAPSE_NOTICE else "reminder",
        due.recipient_email, reminder_subject(due), to_name=due.recipient_name,
        due=due, byol_users=due.byol_users, licenses_url=licenses_url, as_contact=due.audience == Reminder.CONTACT,
        subscription_from=subscription_from, already_moved=already_moved, other_lapsed=others,
    )


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

    def deliver(self, message):
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

