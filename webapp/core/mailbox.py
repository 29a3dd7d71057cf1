"""The development mailbox: with MAILBOX_DIR set (PORTAL_ENV=development), every email the portal sends is
written there as one .eml file instead of going to an SMTP server, and /dev/mailbox reads them back.

It plugs in at the bottom of webapp.core.mail: TimedConnection opens a MailboxHost in place of an
smtplib.SMTP, so the web, `flask send-reminders` and every other command keep their one way out.
Files, not a table: the web server and a `flask` command are separate processes and both write here.
"""
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

# The newest this many are kept; writing one more deletes the oldest.
KEEP = 500
NAME = re.compile(r"^[0-9]{19}-[0-9a-f]{8}$")


class MailboxHost:
    """Stands in for smtplib.SMTP: sendmail() writes the message to the mailbox folder."""

    recipient_tried = False

    def __init__(self, folder):
        self.folder = Path(folder)
        self.sock = True  # "connected", as TimedConnection.is_open asks

    def set_debuglevel(self, level):
        pass

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        self.recipient_tried = True
        keep(self.folder, msg if isinstance(msg, bytes) else msg.encode("utf-8"))
        return {}

    def quit(self):
        self.sock = None

    def close(self):
        self.sock = None


def keep(folder, raw):
    """Write one message; the name sorts by time (nanoseconds since 1970, zero-padded), then prune."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
    part = folder / f".{name}.tmp"
    part.write_bytes(raw)
    os.replace(part, folder / f"{name}.eml")
    for old in _names(folder)[KEEP:]:
        (folder / f"{old}.eml").unlink(missing_ok=True)
    return name


def _names(folder):
    """Message names, newest first."""
    if not folder.is_dir():
        return []
    names = [entry.name[:-4] for entry in os.scandir(folder) if entry.name.endswith(".eml")]
    return sorted((name for name in names if NAME.match(name)), reverse=True)


@dataclass(frozen=True)
class KeptMail:
    name: str
    received: datetime  # naive UTC, as the portal stores times
    sender: str
    to: str
    subject: str
    text: str
    html: str


def _read(folder, name):
    message = message_from_bytes((Path(folder) / f"{name}.eml").read_bytes(), policy=policy.default)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    received = datetime.fromtimestamp(int(name.split("-")[0]) / 1e9, timezone.utc).replace(tzinfo=None)
    if message["Date"]:
        try:
            received = parsedate_to_datetime(message["Date"]).astimezone(timezone.utc).replace(tzinfo=None)
        except (TypeError, ValueError):
            pass
    return KeptMail(
        name=name, received=received, sender=str(message["From"] or ""), to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""), text=text.get_content() if text else "",
        html=html.get_content() if html else "",
    )


def messages(folder, limit=KEEP):
    """The kept messages, newest first."""
    return [_read(folder, name) for name in _names(Path(folder))[:limit]]


def message(folder, name):
    """One kept message by name, or None (a name that is not one of ours never touches the disk)."""
    if not NAME.match(name or "") or not (Path(folder) / f"{name}.eml").is_file():
        return None
    return _read(folder, name)
