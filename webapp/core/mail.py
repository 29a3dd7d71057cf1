"""The one way out for the portal's emails: a text and an HTML template, one Flask-Mail message, a timed send.

Each email is `templates/email/<name>.txt` and `templates/email/<name>.html`, rendered with one
context that always holds the provider's name, the support address and PORTAL_URL. Every SMTP step
(connect, TLS, login, each command) is bounded by MAIL_TIMEOUT; Flask-Mail 0.10 sets no timeout.
"""
import smtplib
from email import policy
from email.utils import parseaddr
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_mail import BadHeaderError, Connection, Message, sanitize_address

from .mailbox import MailboxHost
from .text import printable

__all__ = [
    "MailSettingsError", "TimedConnection", "build_email", "check_settings", "portal_url", "send_email",
    "send_many", "smtp_address",
]


class MailSettingsError(RuntimeError):
    """The mail settings cannot send (suppressed, or no sender address)."""


def smtp_address(address):
    """The address as a mail server without SMTPUTF8 takes it: an internationalized domain
    IDNA-encoded (pat@bücher.example -> pat@xn--bcher-kva.example). One it cannot write in ASCII
    (letters beyond ASCII before the @, which the forms refuse) is returned as it is, and fails alone
    when sent."""
    if address.isascii():
        return address
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError:
        return address


def check_settings(app=None):
    """Raise MailSettingsError when the settings cannot send: suppressed, or no From address."""
    app = app or current_app
    state = app.extensions["mail"]
    if state.suppress:
        raise MailSettingsError(
            "MAIL_SUPPRESS_SEND is on, so nothing would reach the mail server. Turn it off to send email."
        )
    if not parseaddr(sanitize_address(state.default_sender or ""))[1]:
        raise MailSettingsError("MAIL_DEFAULT_SENDER is not set: emails need a From address.")


def portal_url(endpoint, **values):
    """An absolute URL of the portal built from PORTAL_URL, never from a request's Host header."""
    portal = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(
        portal.netloc, script_name=portal.path or "/", url_scheme=portal.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def _header_text(value):
    # Names and subjects may come from users: no extra header lines, no escapes or bidi overrides.
    return " ".join(printable(value).split())


class PortalMessage(Message):
    """Flask-Mail's message, written out with the email package's compat32 policy and CRLF.

    Flask-Mail writes with policy.SMTP, whose folder moves a whole subject of 70 to 78 characters
    onto a continuation line ("Subject:\r\n Office 365 E3 expires ..."), which mail readers then
    show with a leading space; and it parses every header again, which made a reminder cost 2.1 ms
    instead of 1.3. Flask-Mail has already encoded the names and subject, so compat32 only folds.
    """

    _policy = policy.compat32.clone(linesep="\r\n")

    def _message(self):
        message = super()._message()
        message.policy = self._policy
        return message


def build_email(template, to, subject, *, to_name="", **context):
    """The Flask-Mail message for `templates/email/<template>.txt/.html`, to one address (and name)."""
    config = current_app.config
    context = {
        "provider_name": config["PROVIDER_NAME"],
        "support_email": config["SUPPORT_EMAIL"],
        "portal_url": config["PORTAL_URL"],
        **context,
    }
    sender = printable(sanitize_address(current_app.extensions["mail"].default_sender or ""))
    address = smtp_address(_header_text(to))
    to_name = _header_text(to_name)
    return PortalMessage(
        subject=_header_text(subject),
        recipients=[(to_name, address) if to_name else address],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        sender=sender,
    )


class _NotesRecipients:
    """Remembers whether the current message got as far as RCPT: a failure before that is the
    server's (unreachable, TLS, login, no answer), not the recipient's."""

    recipient_tried = False

    def mail(self, sender, options=()):
        self.recipient_tried = False
        return super().mail(sender, options)

    def rcpt(self, recip, options=()):
        self.recipient_tried = True
        return super().rcpt(recip, options)


class _SMTP(_NotesRecipients, smtplib.SMTP):
    pass


class _SMTPSSL(_NotesRecipients, smtplib.SMTP_SSL):
    pass


class TimedConnection(Connection):
    """Flask-Mail's connection, with MAIL_TIMEOUT on the socket of every SMTP step."""

    def __init__(self, mail_state, timeout):
        super().__init__(mail_state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        # Development: the message is kept for /dev/mailbox (webapp.core.mailbox), no SMTP server needed.
        mailbox = current_app.config.get("MAILBOX_DIR")
        if mailbox:
            return MailboxHost(mailbox)
        smtp_class = _SMTPSSL if state.use_ssl else _SMTP
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
        """Flask-Mail's send; an address it cannot write in ASCII raises UnicodeEncodeError.

        Flask-Mail would write letters beyond ASCII before the @ as an encoded word, which is
        another address; without SMTPUTF8 such an address cannot be sent, so it fails alone.
        """
        for recipient in message.send_to:
            address = recipient[1] if isinstance(recipient, tuple) else parseaddr(recipient)[1]
            if not address.isascii():
                raise UnicodeEncodeError("ascii", address, 0, len(address), "needs SMTPUTF8")
        super().send(message, envelope_from)

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


def _connection():
    check_settings()
    return TimedConnection(current_app.extensions["mail"], float(current_app.config["MAIL_TIMEOUT"]))


def send_email(template, to, subject, **context):
    """Render and send one email; raises MailSettingsError, smtplib/OSError or BadHeaderError on failure."""
    message = build_email(template, to, subject, **context)
    with _connection() as connection:
        connection.send(message)
    return message


def send_many(messages):
    """Send messages over one SMTP connection; returns an error text per message (None when sent).

    A refusal of one recipient does not stop the others; a lost connection is opened again once.
    Raises MailSettingsError, or the connection's error when the server cannot be reached at all.
    """
    errors = []
    connection = None
    try:
        for message in messages:
            for may_retry in (True, False):
                if connection is None:
                    connection = _connection().__enter__()
                try:
                    connection.send(message)
                    errors.append(None)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, BadHeaderError, UnicodeError) as error:
                    errors.append(f"{error.__class__.__name__}: {error}")
                except (smtplib.SMTPServerDisconnected, OSError) as error:
                    connection.__exit__(type(error), error, None)
                    connection = None
                    if may_retry:
                        continue
                    errors.append(f"{error.__class__.__name__}: {error}")
                break
    finally:
        if connection is not None:
            connection.__exit__(None, None, None)
    return errors
