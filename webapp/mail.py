"""The one way out for the portal's emails: a text and an HTML template, one Flask-Mail message, a timed send.

Each email is `templates/email/<name>.txt` and `templates/email/<name>.html`, rendered with one
context that always holds the provider's name, the support address and PORTAL_URL. Every SMTP step
(connect, TLS, login, each command) is bounded by MAIL_TIMEOUT; Flask-Mail 0.10 sets no timeout.
"""
import smtplib
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_mail import BadHeaderError, Connection, Message, sanitize_address
from email.utils import parseaddr

# The address and settings helpers are the reminders' own, so every email is addressed alike.
from .reminders import MailSettingsError, smtp_address
from .text import printable

__all__ = ["MailSettingsError", "build_email", "check_settings", "portal_url", "send_email", "send_many"]


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


def build_email(template, to, subject, **context):
    """The Flask-Mail message for `templates/email/<template>.txt/.html`, to one address."""
    config = current_app.config
    context = {
        "provider_name": config["PROVIDER_NAME"],
        "support_email": config["SUPPORT_EMAIL"],
        "portal_url": config["PORTAL_URL"],
        **context,
    }
    sender = printable(sanitize_address(current_app.extensions["mail"].default_sender or ""))
    return Message(
        subject=_header_text(subject),
        recipients=[smtp_address(_header_text(to))],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        sender=sender,
    )


class TimedConnection(Connection):
    """Flask-Mail's connection, with MAIL_TIMEOUT on the socket of every SMTP step."""

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

    def __exit__(self, exc_type, exc_value, tb):
        host, self.host = self.host, None
        if host is None:
            return
        try:
            if exc_type is None and host.sock is not None:
                host.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            host.close()


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
