"""Reading the audit trail: the staff Audit log (filtered, newest first, a page at a time, as CSV)
and a customer's Activity (their own account only, staff-internal entries left out).

Pages are keyset-paginated on (at, id), newest first: a page is one query however deep it is, and
an entry written while someone pages does not shift the next page. Nothing here writes.
"""
import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from peewee import JOIN, fn

from .. import audit
from ..accounts.models import Account, User
from ..billing.report import neutralise
from ..core.filters import day, moment
from .models import AuditEntry

PAGE_SIZE = 50
# The CSV export reads the filtered entries this many at a time, so memory stays flat however many.
EXPORT_CHUNK = 1000
CSV_COLUMNS = ("time_utc", "actor", "account", "kind", "what", "subject", "before", "after", "internal")


@dataclass(frozen=True)
class Filters:
    """What the Audit log shows: text contained in the account name or actor, a kind, UTC dates inclusive."""

    account: str = ""
    actor: str = ""
    kind: str = ""
    since: date | None = None
    until: date | None = None


def _query():
    return (
        AuditEntry.select(
            AuditEntry,
            Account.name.alias("account_name"),
            User.is_admin.alias("actor_is_admin"),
            User.name.alias("actor_name"),
        )
        .join(Account, JOIN.LEFT_OUTER, on=(AuditEntry.account == Account.id))
        .switch(AuditEntry)
        .join(User, JOIN.LEFT_OUTER, on=(AuditEntry.actor == User.id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .objects()
    )


def _filtered(filters):
    query = _query()
    if filters.account:
        query = query.where(fn.LOWER(Account.name).contains(filters.account.strip().lower()))
    if filters.actor:
        query = query.where(fn.LOWER(AuditEntry.actor_label).contains(filters.actor.strip().lower()))
    if filters.kind:
        query = query.where(AuditEntry.kind == filters.kind)
    if filters.since:
        query = query.where(AuditEntry.at >= datetime.combine(filters.since, time.min))
    if filters.until:
        # The end of that day, not the start of the next: 31 Dec 9999 has no next day.
        query = query.where(AuditEntry.at <= datetime.combine(filters.until, time.max))
    return query


def _older_than(query, cursor):
    """Entries after the one named `cursor` in newest-first order, with its time read in the same query."""
    if cursor is None:
        return query
    Cursor = AuditEntry.alias()
    cursor_at = Cursor.select(Cursor.at).where(Cursor.id == cursor)
    return query.where(
        (AuditEntry.at < cursor_at) | ((AuditEntry.at == cursor_at) & (AuditEntry.id < cursor))
    )


@dataclass(frozen=True)
class Page:
    entries: list
    # The id to pass as `before` for the next (older) page; None on the last page.
    next_cursor: int | None


def _page(query, cursor, size):
    rows = list(_older_than(query, cursor).limit(size + 1))
    has_more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].id if has_more else None)


def audit_page(filters, cursor=None, size=PAGE_SIZE):
    """One page of the staff Audit log, newest first, in one query."""
    return _page(_filtered(filters), cursor, size)


def activity_page(account_id, cursor=None, size=PAGE_SIZE):
    """One page of a customer's Activity: their own account's entries (scoped in the query), none internal."""
    query = _query().where((AuditEntry.account == account_id) & (AuditEntry.internal == False))  # noqa: E712
    return _page(query, cursor, size)


# --- how an entry reads ------------------------------------------------------------------------


def kind_label(kind):
    """The words for a kind ("Proof reviewed"); an unknown one (a newer release's) shows as stored."""
    return audit.KINDS.get(kind, kind)


def is_backfilled(entry):
    """True for an entry the 0009 migration made from earlier records, not written as the change happened."""
    return bool(audit.values(entry.after).get("backfilled"))


# How a stored field name reads on the pages (the CSV keeps the names as stored, for machines).
FIELD_LABELS = {
    "expires_on": "expiration date",
    "contact_name": "contact name",
    "contact_email": "contact email",
    "review_status": "review",
    "review_reason": "reason given",
    "retired_at": "removed on",
    "started_at": "started",
    "paused_minutes": "paused for (minutes)",
    "enrollment": "billing",
    "bytes": "size in bytes",
    "is_authorized": "authorized",
    "billing_day": "billing day",
    "recovery_codes": "recovery codes",
    "run_date": "as of",
    "exit_status": "exit status",
}


def field_label(field):
    """Words for a stored field name: "expires_on" reads "expiration date"; any other loses its underscores."""
    return FIELD_LABELS.get(field, field.replace("_", " "))


def changes(entry):
    """[(field, before, after)] of an entry's values; a side the entry does not have is None."""
    before, after = audit.values(entry.before), audit.values(entry.after)
    after.pop("backfilled", None)
    fields = list(before) + [field for field in after if field not in before]
    return [(field, before.get(field), after.get(field)) for field in fields]


# --- history in words: what the Audit log and Activity show (the CSV keeps the stored values) ---

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]00:?00)?$")
VALUE_WORDS = {"byol": "BYOL", "subscription": "provider subscription"}


def value_words(value):
    """A stored value as people read it: yes/no, 7 Dec 2026, 7 Dec 2026, 16:01 UTC; '' for nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        text = value.strip()
        try:
            if ISO_DAY.match(text):
                return day(date.fromisoformat(text))
            if ISO_MOMENT.match(text):
                return moment(datetime.fromisoformat(text.replace("Z", "").replace(" ", "T")[:26]).replace(tzinfo=None))
        except ValueError:
            return value
        return VALUE_WORDS.get(text, value)
    return str(value)


def details(entry):
    """[(label, before words, after words)] of the values an entry touched, in words.

    A side without a value is '' (a removed plan's values read as they were, not struck through as if
    edited); a field with no value on either side is left out.
    """
    shown = []
    for field, before, after in changes(entry):
        was, now = value_words(before), value_words(after)
        if was or now:
            shown.append((field_label(field), was, now))
    return shown


def actor_for_staff(entry):
    """Who did it, as staff read it: a person by name (their email when they gave none), jobs in words."""
    label = entry.actor_label
    if label == audit.CRON:
        return "The daily reminder run"
    if label == audit.COMMAND_LINE:
        return "Someone at the command line"
    if label == audit.ANONYMOUS:
        return "Someone not signed in"
    return (getattr(entry, "actor_name", None) or "").strip() or label


def what_happened(entry):
    """What the actor did, as the rest of a sentence after their name: "removed Office 365 E1"."""
    subject = entry.subject
    before, after = audit.values(entry.before), audit.values(entry.after)
    kind = entry.kind
    if kind == "proof.reviewed":
        decision = after.get("review_status")
        verb = {"accepted": "accepted", "rejected": "rejected"}.get(decision, "reviewed")
        return f"{verb} the proof for {subject}"
    if kind == "account.byol_switched":
        if after.get("enrollment") == "byol":
            return f"enrolled {subject} in BYOL"
        return f"switched {subject} to provider subscription"
    if kind == "license.renamed" and before.get("plan"):
        return f"renamed {before['plan']} to {after.get('plan') or subject}"
    if kind == "reminders.run":
        run_date = value_words(after.get("run_date"))
        step = "finished" if subject.startswith("finished") else "started"
        return f"{step} the reminder run for {run_date}" if run_date else f"{step} a reminder run"
    if kind in ("user.password_changed", "user.second_factor_changed"):
        what = "password" if kind == "user.password_changed" else "second factor"
        own = subject and subject == entry.actor_label
        return f"changed their {what}" if own else f"changed the {what} of {subject}"
    template = SENTENCES.get(kind)
    if template is None:  # a newer release's kind: its label and subject as stored
        return f"{kind_label(kind).lower()}: {subject}" if subject else kind_label(kind).lower()
    return template.format(subject=subject)


# The rest of the sentence after the actor, per kind; the kinds above read from their values.
SENTENCES = {
    "license.added": "added {subject}",
    "license.updated": "updated {subject}",
    "license.retired": "removed {subject}",
    "license.renamed": "renamed a plan to {subject}",
    "proof.uploaded": "uploaded proof for {subject}",
    "account.created": "created the account {subject}",
    "account.suspended": "suspended {subject}",
    "account.reactivated": "reactivated {subject}",
    "user.created": "created a login for {subject}",
    "user.invited": "invited {subject}",
    "user.authorized": "authorized {subject}",
    "user.unauthorized": "removed the authorization of {subject}",
    "user.deactivated": "deactivated {subject}",
    "user.reactivated": "reactivated {subject}",
    "signin.failed": "could not sign in as {subject}",
    "signin.throttled": "was paused from signing in as {subject}",
    "api_token.created": "created the API token {subject}",
    "api_token.revoked": "revoked the API token {subject}",
    "calendar_feed.issued": "made a new calendar feed link",
}


def actor_for_customer(entry, provider_name):
    """Who did it, as a customer may read it: colleagues by email, the provider's people and jobs by the provider's name."""
    if getattr(entry, "actor_is_admin", False):
        return f"{provider_name} staff"
    if entry.actor_label == audit.CRON:
        return f"{provider_name} (daily reminders)"
    if entry.actor_label == audit.COMMAND_LINE:
        return provider_name
    if entry.actor_label == audit.ANONYMOUS:
        return "Someone not signed in"
    return (getattr(entry, "actor_name", None) or "").strip() or entry.actor_label


def _text(values):
    return "; ".join(f"{field}: {value}" for field, value in values.items())


def csv_lines(filters):
    """The filtered entries as CSV, a chunk of lines at a time (newest first); every cell spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    cursor = None
    while True:
        page = audit_page(filters, cursor, EXPORT_CHUNK)
        for entry in page.entries:
            writer.writerow([neutralise(cell) for cell in (
                entry.at.strftime("%Y-%m-%d %H:%M:%S"), entry.actor_label, entry.account_name or "",
                entry.kind, kind_label(entry.kind), entry.subject, _text(audit.values(entry.before)),
                _text(audit.values(entry.after)), "yes" if entry.internal else "no",
            )])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
