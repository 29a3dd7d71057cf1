"""The audit trail: who changed what, when, in which account, and the values before and after.

`record()` writes one AuditEntry through the caller's connection, so it lands in the same
transaction as the change it describes: a change that rolls back leaves no entry, and an entry
never exists without its change. Nothing in the product updates or deletes an entry, and the
database refuses it (migration 0024); `purge_older_than` (`flask purge-audit`) is the one way to
remove entries past an age, and it records that it did.

The actor is whoever is acting in this context: the signed-in user in a request; "cron" or
"command line" where a `flask` command said so with `acting_as()`; "anonymous" otherwise (a failed
sign-in, say, where `actor_label` names the email that was tried).
"""
import json
from contextlib import contextmanager
from datetime import date, datetime

from flask import g, has_app_context, has_request_context
from flask_login import current_user

from ..core.text import printable
from ..extensions import db
from .models import AuditEntry, AuditPurge

CRON = "cron"
COMMAND_LINE = "command line"
ANONYMOUS = "anonymous"


@contextmanager
def acting_as(label):
    """Entries recorded inside this block name `label` ("cron", "command line") as their actor."""
    previous = g.get("audit_actor")
    g.audit_actor = label
    try:
        yield
    finally:
        g.audit_actor = previous


def _current_actor():
    """(user or None, label) for whoever acts in this context."""
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user._get_current_object(), current_user.email
    if has_app_context() and g.get("audit_actor"):
        return None, g.audit_actor
    return None, ANONYMOUS


def _json(values):
    if values is None:
        return ""
    return json.dumps(values, sort_keys=True, default=_plain, ensure_ascii=False)


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def record(kind, *, account=None, subject="", before=None, after=None, internal=False, actor=None, actor_label=None,
           at=None):
    """Write one audit entry now, in the caller's transaction.

    `kind` is a dotted name from KINDS ("license.added"); `before` and `after` are dicts of the
    values the change touched; `internal` hides the entry from the customer's Activity page.
    `actor` and `actor_label` override whoever acts in this context; `at` (default: now) is when
    the change happened, for changes recorded from earlier records.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    if actor is None and actor_label is None:
        actor, actor_label = _current_actor()
    elif actor_label is None:
        actor_label = actor.email
    return AuditEntry.create(
        **({"at": at} if at is not None else {}),
        kind=kind,
        account=account,
        actor=actor,
        actor_label=actor_label[:254],
        subject=subject[:300],
        before=_json(before),
        after=_json(after),
        internal=internal,
    )


def purge_older_than(cutoff):
    """Delete the entries recorded before `cutoff` (naive UTC), and record that, in one transaction;
    returns how many were deleted.

    The database lets these DELETEs through only while the permit row written here covers them; the
    permit is gone again before the transaction commits, so no other connection ever sees one.
    """
    with db.database.atomic():
        AuditPurge.create(before=cutoff)
        removed = AuditEntry.delete().where(AuditEntry.at < cutoff).execute()
        AuditPurge.delete().execute()
        record("audit.purged", subject=f"entries before {cutoff:%Y-%m-%d %H:%M} UTC",
               after={"before": cutoff, "removed": removed}, internal=True)
    return removed


def values(entry_text):
    """The dict stored in an entry's `before` or `after` ({} when empty)."""
    return json.loads(entry_text) if entry_text else {}


def changed(before, after):
    """(before, after) cut down to the keys whose values differ: only what the change touched."""
    keys = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


# Text someone outside typed (an email tried at the login form) is kept to this much in a subject.
OUTSIDE_TEXT_LENGTH = 120


def outside_text(value):
    """Hostile text made safe to keep and show: one line, no control or bidi characters, truncated."""
    text = printable(value or "").strip()
    return text if len(text) <= OUTSIDE_TEXT_LENGTH else text[: OUTSIDE_TEXT_LENGTH - 1] + "…"


# Every kind of entry, with the words the Audit log and Activity pages show for it. A new kind is
# added here first: record() refuses one it does not know.
KINDS = {
    "license.added": "License added",
    "license.updated": "License updated",
    "license.retired": "License removed",
    "license.removal_requested": "Removal asked, awaiting confirmation",
    "license.removal_confirmed": "Removal confirmed",
    "license.removal_refused": "Removal refused",
    "license.renamed": "Plan renamed",
    "proof.uploaded": "Proof uploaded",
    "proof.reviewed": "Proof reviewed",
    "account.created": "Account created",
    "account.suspended": "Account suspended",
    "account.reactivated": "Account reactivated",
    "account.byol_switched": "BYOL enrollment switched",
    "user.created": "User created",
    "user.invited": "User invited",
    "user.authorized": "User authorized",
    "user.unauthorized": "Authorization removed",
    "user.deactivated": "User deactivated",
    "user.reactivated": "User reactivated",
    "user.password_changed": "Password changed",
    "user.second_factor_changed": "Second factor changed",
    "signin.failed": "Sign-in failed",
    "signin.throttled": "Sign-in throttled",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "calendar_feed.issued": "Calendar link made",
    "reminders.run": "Reminder run",
    "audit.purged": "Audit entries purged",
}
