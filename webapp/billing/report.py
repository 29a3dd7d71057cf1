"""The billing report: one row per account for a cycle, from one function, for the page, CSV, CLI and API.

It runs three queries whatever the number of accounts: the reviews and the account changes made
since the month began (earlier ones cannot matter to a cycle starting in it), then the accounts
with their license versions, read one account at a time. The rule itself is webapp.billing.
"""
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from operator import attrgetter
from typing import NamedTuple

from peewee import JOIN, fn

from ..accounts.models import Account, AccountChange
from ..core.compiled_sql import RowShape, rows_of
from ..licenses.models import License, LicenseVersion
from ..review.models import ReviewEvent
from .rules import (
    MODES,
    AccountHistory,
    Change,
    Submission,
    cycle_billing,
    format_cycle,
    start_instant,
)

CSV_COLUMNS = (
    "account_id", "account", "cycle", "cycle_start", "mode", "reason", "byol_seats",
    "earliest_expiration", "account_status", "can_still_change",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class BillingRow:
    """One account's line of the report."""

    account_id: int
    account: str
    cycle: str
    cycle_start: date
    mode: str
    reason: str
    byol_seats: int
    earliest_expiration: date | None
    account_status: str
    can_still_change: bool

    def as_dict(self):
        """The row as JSON-ready values (dates as ISO strings)."""
        return {
            "account_id": self.account_id,
            "account": self.account,
            "cycle": self.cycle,
            "cycle_start": self.cycle_start.isoformat(),
            "mode": self.mode,
            "reason": self.reason,
            "byol_seats": self.byol_seats,
            "earliest_expiration": self.earliest_expiration.isoformat() if self.earliest_expiration else None,
            "account_status": self.account_status,
            "can_still_change": self.can_still_change,
        }


@dataclass(frozen=True)
class BillingPage:
    rows: list
    page: int
    per_page: int | None
    has_next: bool


def _accounts(search):
    query = Account.select(Account.id)
    search = (search or "").strip().lower()
    if search:
        query = query.where(fn.LOWER(Account.name).contains(search))
    return query


def _reviews(ids, since):
    """{version id: [Change]} for reviews made since `since` of the accounts' versions."""
    reviews = {}
    for version_id, at, before, after in (
        ReviewEvent.select(ReviewEvent.version, ReviewEvent.reviewed_at, ReviewEvent.previous_status,
                           ReviewEvent.review_status)
        .join(LicenseVersion).join(License)
        .where(License.account.in_(ids) & (ReviewEvent.reviewed_at >= since))
        .tuples()
    ):
        reviews.setdefault(version_id, []).append(Change(at, before, after))
    return reviews


def _account_changes(ids, since):
    """{(account id, field): [Change]} for status and enrollment changes made since `since`."""
    changes = {}
    for account_id, field, before, after, at in (
        AccountChange.select(AccountChange.account, AccountChange.field, AccountChange.previous,
                             AccountChange.value, AccountChange.changed_at)
        .where(AccountChange.account.in_(ids) & (AccountChange.changed_at >= since))
        .tuples()
    ):
        if field == AccountChange.ENROLLMENT:
            before, after = before == "byol", after == "byol"
        changes.setdefault((account_id, field), []).append(Change(at, before, after))
    return changes


class _Version(NamedTuple):
    """A license version, as the billing rule reads it (a Submission, less its reviews)."""

    id: int
    license_id: int
    plan: str
    seats: int
    expires_on: date
    submitted_at: datetime
    review_status: str
    retired_at: datetime | None
    saved_anyway: bool


class _AccountVersion(NamedTuple):
    """An account with one of its license versions (None for an account with none)."""

    id: int
    name: str
    status: str
    byol_enrolled: bool
    billing_day: int
    version: _Version | None


_ACCOUNT_VERSION = RowShape(
    _AccountVersion, Account.id, Account.name, Account.status, Account.byol_enrolled, Account.billing_day,
    version=RowShape(
        _Version, LicenseVersion.id, LicenseVersion.license, License.plan, LicenseVersion.seats,
        LicenseVersion.expires_on, LicenseVersion.submitted_at, LicenseVersion.review_status, License.retired_at,
        LicenseVersion.saved_anyway, optional=True,
    ),
)


def _accounts_with_versions_query(ids, current_only):
    on_version = LicenseVersion.license == License.id
    if current_only:
        on_version = on_version & (LicenseVersion.id == License.current)
    return (
        Account.select(*_ACCOUNT_VERSION.columns)
        .join(License, JOIN.LEFT_OUTER, on=(License.account == Account.id))
        .join(LicenseVersion, JOIN.LEFT_OUTER, on=on_version)
        .where(Account.id.in_(ids))
        .order_by(Account.name, Account.id)
    )


def _accounts_with_versions(ids, current_only):
    """(account row, [its _Version rows]) per account, in name order.

    One query, read row by row: an account's versions are adjacent, so only one account's rows are
    held at a time, whatever the number of accounts. `current_only` reads each license's current
    version alone (enough for a cycle not yet started); otherwise every version, for history.
    """
    query = _accounts_with_versions_query(ids, current_only)
    for _, rows in groupby(rows_of(query, _ACCOUNT_VERSION), key=attrgetter("id")):
        rows = list(rows)
        yield rows[0], [row.version for row in rows if row.version is not None]


def billing_report(year, month, today, timezone_name, search=None, mode=None, page=1, per_page=None,
                   must_be_accepted=False):
    """The report's rows for the cycle starting in (year, month): filtered by mode and account name.

    `must_be_accepted` is the provider's PROOF_MUST_BE_ACCEPTED.
    With `per_page`, one page of it (`page` from 1). Without a mode filter the page is cut in the
    database; with one, every matching account is decided first, as the mode is not a column.
    Three queries whatever the number of accounts.
    """
    ids = _accounts(search)
    if per_page and mode is None:
        ids = ids.order_by(Account.name, Account.id).limit(per_page + 1).offset((page - 1) * per_page)
    # A change before the month began cannot matter to a cycle that starts in it.
    since = start_instant(date(year, month, 1), timezone_name)
    reviews = _reviews(ids, since)
    changes = _account_changes(ids, since)
    cycle = format_cycle(year, month)
    rows = []
    # No cycle starting in the month has begun if its first day is still to come: what is on file now decides.
    not_started = date(year, month, 1) > today
    for account, versions in _accounts_with_versions(ids, not_started):
        submissions = [
            Submission(
                license_id=version.license_id, plan=version.plan, seats=version.seats, expires_on=version.expires_on,
                submitted_at=version.submitted_at, review_status=version.review_status,
                reviews=tuple(reviews.get(version.id, ())), version_id=version.id, retired_at=version.retired_at,
                saved_anyway=bool(version.saved_anyway),
            )
            for version in versions
        ]
        history = AccountHistory(
            billing_day=account.billing_day,
            status=account.status,
            enrolled=bool(account.byol_enrolled),
            status_changes=tuple(changes.get((account.id, AccountChange.STATUS), ())),
            enrollment_changes=tuple(changes.get((account.id, AccountChange.ENROLLMENT), ())),
        )
        decided = cycle_billing(year, month, history, submissions, today, timezone_name, must_be_accepted)
        if mode is not None and decided.mode != mode:
            continue
        rows.append(BillingRow(
            account_id=account.id,
            account=account.name,
            cycle=cycle,
            cycle_start=decided.cycle_start,
            mode=decided.mode,
            reason=decided.reason,
            byol_seats=decided.byol_seats,
            earliest_expiration=decided.earliest_expiration,
            account_status=decided.status,
            can_still_change=decided.can_still_change,
        ))
    if not per_page:
        return BillingPage(rows, 1, None, False)
    if mode is not None:
        rows = rows[(page - 1) * per_page:]
    return BillingPage(rows[:per_page], page, per_page, len(rows) > per_page)


def is_mode(text):
    return text in MODES


def neutralise(cell):
    """A cell a spreadsheet will show as text: one starting like a formula gets a leading apostrophe."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(rows, out):
    """The rows as CSV (a header line, then one line per account) to a text stream."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.as_dict()
        values["can_still_change"] = "yes" if row.can_still_change else "no"
        writer.writerow([neutralise(values[column]) for column in CSV_COLUMNS])


def as_csv(rows):
    out = io.StringIO()
    write_csv(rows, out)
    return out.getvalue()
