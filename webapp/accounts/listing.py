"""The staff accounts list: filters, sorts and pages over every account in one SQL statement.

Each filter and sort key is the SQL form of a rule in webapp.licenses.rules (see `lapsed`,
`expiring_soon`, `awaiting_review` and `standing_rank` there); tests/accounts/test_accounts_list.py
checks on generated data that both give the same answer. Every license counts through its
current version, as on the Client Licenses tab; its expiration date is read from the license's own
copy of it (License.expires_on, kept in step with the current version), which is indexed.
"""
from dataclasses import dataclass

from peewee import Case, Ordering, fn

from ..core.row_ids import MAX_ROW_ID
from ..licenses.models import License, LicenseVersion
from ..licenses.rules import expiring_window
from ..reminders.models import Reminder
from .models import Account

LAPSED = "lapsed"
EXPIRING = "expiring"
AWAITING_REVIEW = "awaiting-review"
SUSPENDED = "suspended"
NOT_ENROLLED = "not-enrolled"
REMINDER_FAILED = "reminder-failed"
FILTERS = {
    LAPSED: "Lapsed (a plan expired or its proof rejected)",
    EXPIRING: "A plan expiring within 30 days",
    AWAITING_REVIEW: "Proof awaiting review",
    SUSPENDED: "Suspended",
    NOT_ENROLLED: "Not enrolled in BYOL",
    REMINDER_FAILED: "A reminder that could not be delivered",
}

NAME = "name"
EXPIRATION = "expiration"
STATUS = "status"
SORTS = {NAME: "Name", EXPIRATION: "Earliest expiration", STATUS: "BYOL status"}
ASCENDING, DESCENDING = "asc", "desc"
DIRECTIONS = {ASCENDING: "Ascending", DESCENDING: "Descending"}


@dataclass(frozen=True)
class AccountPage:
    """One page of the list: its accounts, the page number, and how many accounts match in all."""

    accounts: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self):
        return self.page < self.pages

    @property
    def past_the_end(self):
        return self.page > self.pages


def _has_license():
    """The account has a license (not removed) with a current version: one index lookup per account."""
    # The date is set with the current version (License.expires_on); testing it, not joining the version,
    # keeps this to the index on (account, expires_on).
    return fn.EXISTS(License.select(License.id).where(
        (License.account == Account.id) & License.retired_at.is_null() & License.expires_on.is_null(False)
    ))


def _accounts_with(condition):
    """Accounts with a license (not removed) whose current version meets `condition`.

    An uncorrelated subquery: the database finds the few such licenses once, through an index, instead
    of reading every license of every account, as an EXISTS per account did.
    """
    return Account.id.in_(
        License.select(License.account)
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .where(License.retired_at.is_null() & condition)
    )


def _broken(today):
    """Has a license that no longer keeps BYOL: expired (valid through its date) or proof rejected."""
    # Two subqueries, not one with OR: each has its own index (the license's date, the review state).
    return _accounts_with(License.expires_on < today) | _accounts_with(
        LicenseVersion.review_status == LicenseVersion.REJECTED
    )


def _expiring(today):
    first, last = expiring_window(today)
    return _accounts_with(
        License.expires_on.between(first, last) & (LicenseVersion.review_status != LicenseVersion.REJECTED)
    )


def _awaiting_review():
    return _accounts_with(LicenseVersion.review_status == LicenseVersion.PENDING)


def count_matching(name, today):
    """How many accounts a filter of FILTERS lists: one COUNT."""
    return Account.select().where(filter_condition(name, today)).count()


def filter_condition(name, today):
    """The SQL condition of a filter in FILTERS."""
    if name == LAPSED:
        return (Account.byol_enrolled == True) & _broken(today)  # noqa: E712
    if name == EXPIRING:
        return _expiring(today)
    if name == AWAITING_REVIEW:
        return _awaiting_review()
    if name == SUSPENDED:
        return Account.status == Account.SUSPENDED
    if name == NOT_ENROLLED:
        return Account.byol_enrolled == False  # noqa: E712
    if name == REMINDER_FAILED:
        return Account.id.in_(
            License.select(License.account).join(Reminder, on=(Reminder.license == License.id))
            .where(License.retired_at.is_null() & (Reminder.status == Reminder.FAILED))
        )
    raise ValueError(f"unknown filter {name!r}")


def earliest_expiration():
    """The account's earliest current expiration date (NULL without licenses): one index lookup per account."""
    return License.select(fn.MIN(License.expires_on)).where(
        (License.account == Account.id) & License.retired_at.is_null()
    )


def standing_rank(today):
    """SQL for licensing.standing_rank: 0 lapsed, 1 no proof, 2 valid, 3 not enrolled."""
    return Case(None, [
        (Account.byol_enrolled == False, 3),  # noqa: E712
        (_broken(today), 0),
        (~_has_license(), 1),
    ], 2)


def _order(sort, direction, today):
    descending = direction == DESCENDING
    if sort == NAME:
        return (Account.name.desc(), Account.id.desc()) if descending else (Account.name.asc(), Account.id.asc())
    if sort == EXPIRATION:
        # Accounts without a license have no date: last, whichever way the dates run.
        key = Ordering(earliest_expiration(), "DESC" if descending else "ASC", nulls="LAST")
    elif sort == STATUS:
        key = standing_rank(today).desc() if descending else standing_rank(today).asc()
    else:
        raise ValueError(f"unknown sort {sort!r}")
    return key, Account.name.asc(), Account.id.asc()


def accounts_page(today, *, search="", filter_name=None, sort=NAME, direction=ASCENDING, page=1, per_page=50):
    """One page of accounts and how many match, in one statement (two when `page` is past the end).

    The count rides along as an uncorrelated subquery, which both databases evaluate once.
    """
    conditions = []
    search = (search or "").strip().lower()
    if search:
        conditions.append(fn.LOWER(Account.name).contains(search))
    if filter_name:
        conditions.append(filter_condition(filter_name, today))
    matching = Account.select(fn.COUNT(Account.id))
    if conditions:
        matching = matching.where(*conditions)
    accounts = []
    offset = (page - 1) * per_page
    # More rows than an id can number cannot exist; the database is not asked for an OFFSET it cannot hold.
    if offset <= MAX_ROW_ID:
        query = Account.select(Account, matching.alias("total"))
        if conditions:
            query = query.where(*conditions)
        accounts = list(query.order_by(*_order(sort, direction, today)).limit(per_page).offset(offset))
    if accounts:
        total = accounts[0].total
    elif page == 1:
        total = 0
    else:
        total = matching.scalar()  # past the end: no row carried the count
    return AccountPage(accounts, page, per_page, total)
