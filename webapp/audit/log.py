"""Reading the audit trail: the staff Audit log (filtered, newest first, a page at a time, as CSV)
and a customer's Activity (their own account only, staff-internal entries left out).

Pages are keyset-paginated on (at, id), newest first: a page is one query however deep it is, and
an entry written while someone pages does not shift the next page. Nothing here writes.
"""
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time

from peewee import JOIN, fn

from .. import audit
from ..accounts.models import Account, User
from ..billing.report import neutralise
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
    "retired_at": "removed at (UTC)",
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
    return entry.actor_label


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
