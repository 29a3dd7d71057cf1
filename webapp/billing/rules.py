"""Which accounts a billing cycle bills BYOL and which by subscription, and why. No Flask, no database.

A cycle is decided at its start from what was on file at that moment: the license versions
submitted before it, each with its review state as it was then, and the account's enrollment as it
was then. So late proof never rewrites a started cycle, and a past cycle's answer never changes. A
cycle that has not started yet is decided from what is on file now, and can still change.

Suspended accounts: suspension closes the portal to the account's users; it does not change what
the account is billed. The mode follows the licenses and the enrollment as for any account, and
the row carries the status the account had at the cycle start so invoicing can see it.
"""
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..licenses.rules import counts_as_proof, cycle_start, is_expired

BYOL = "BYOL"
SUBSCRIPTION = "Subscription"
MODES = (BYOL, SUBSCRIPTION)
REJECTED = "rejected"
# Years a billing cycle can be in: wide enough for any invoice, narrow enough for date arithmetic
# in every time zone. CYCLE_PATTERN is the same rule for the API's OpenAPI document.
FIRST_YEAR, LAST_YEAR = 1900, 2999
CYCLE_PATTERN = "^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
_CYCLE = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True)
class Change:
    """One recorded change of a value: what it was before, what it became, and when (naive UTC)."""

    at: datetime
    before: object
    after: object


def value_at(current, changes, instant):
    """What a value was at `instant`, given its value now and every change recorded since it was set.

    The first change after `instant` tells what the value was before it; with none, it has not
    changed since, so it is the current value. `instant=None` means now.
    """
    if instant is None:
        return current
    later = [change for change in changes if change.at >= instant]
    if not later:
        return current
    return min(later, key=lambda change: change.at).before


class Submission(NamedTuple):
    """One version of a license: its terms, when it was submitted, and its review state over time.

    A named tuple, not a frozen dataclass: a report page builds one per version read, over a thousand,
    and a frozen dataclass's __init__ cost several times more.
    """

    license_id: int
    plan: str
    seats: int
    expires_on: date
    submitted_at: datetime
    review_status: str = "pending"
    reviews: tuple = ()  # Change(at, before status, after status) for every review of this version
    version_id: int = 0
    # When the customer removed the license (naive UTC), or None: from then on it is not on file. A
    # lapsed plan's removal counts from staff's confirmation, which is when this is set.
    retired_at: datetime | None = None
    # Saved anyway against a document that says otherwise: counts only once accepted.
    saved_anyway: bool = False


@dataclass(frozen=True)
class AccountHistory:
    """An account's billing day, its status and enrollment now, and their recorded changes."""

    billing_day: int
    status: str = "active"
    enrolled: bool = True
    status_changes: tuple = ()
    enrollment_changes: tuple = ()


@dataclass(frozen=True)
class CycleBilling:
    """The decision for one account and one cycle: the mode and everything that explains it."""

    cycle_start: date
    mode: str
    status: str
    enrolled: bool
    expired: tuple = ()
    rejected: tuple = ()
    unaccepted: tuple = ()
    no_licenses: bool = False
    byol_seats: int = 0
    earliest_expiration: date | None = None
    can_still_change: bool = False
    plans: tuple = field(default=(), repr=False)

    @property
    def reason(self):
        """Why the mode is what it is, in words invoicing can print."""
        if not self.enrolled:
            return "not enrolled in BYOL"
        parts = []
        if self.no_licenses:
            parts.append("no license on file")
        if self.expired:
            parts.append("expired: " + ", ".join(self.expired))
        if self.rejected:
            parts.append("proof rejected: " + ", ".join(self.rejected))
        if self.unaccepted:
            parts.append("proof not yet accepted: " + ", ".join(self.unaccepted))
        return "; ".join(parts) if parts else "every license current"


def parse_cycle(text):
    """(year, month) from 'YYYY-MM', or None when it is not a month."""
    match = _CYCLE.fullmatch((text or "").strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and FIRST_YEAR <= year <= LAST_YEAR):
        return None
    return year, month


def format_cycle(year, month):
    return f"{year:04d}-{month:02d}"


def next_cycle(today):
    """The cycle a report shows by default: the month after today's."""
    index = today.year * 12 + today.month  # the next month, zero-based
    return index // 12, index % 12 + 1


def start_instant(day, timezone_name):
    """The moment a cycle starts (midnight of its first day in the business time zone), as naive UTC."""
    local = datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone_name))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def on_file_at(submissions, instant):
    """Each license's version on file at `instant` (None: now), with its review state as it was then.

    A version counts once it was submitted strictly before `instant`; the latest such version of a
    license is the one on file. A license removed strictly before `instant` (or at all, for now) is
    not on file: a cycle that started before the removal still counts it. Returns
    [(submission, review status then)], ordered by plan.
    """
    latest = {}
    for sub in submissions:
        if instant is not None and sub.submitted_at >= instant:
            continue
        if sub.retired_at is not None and (instant is None or sub.retired_at < instant):
            continue
        key = (sub.submitted_at, sub.version_id)
        if sub.license_id not in latest or key > (latest[sub.license_id].submitted_at, latest[sub.license_id].version_id):
            latest[sub.license_id] = sub
    on_file = [(sub, value_at(sub.review_status, sub.reviews, instant)) for sub in latest.values()]
    return sorted(on_file, key=lambda pair: (pair[0].plan.casefold(), pair[0].license_id))


def decide(start, account, submissions, instant, can_still_change=False, must_be_accepted=False):
    """The mode of the cycle starting on `start`, from what was on file at `instant` (None: now).

    `must_be_accepted` is the provider's PROOF_MUST_BE_ACCEPTED: proof awaiting review then counts as missing.
    """
    status = value_at(account.status, account.status_changes, instant)
    enrolled = value_at(account.enrolled, account.enrollment_changes, instant)
    on_file = on_file_at(submissions, instant)
    expired = tuple(sub.plan for sub, review in on_file if review != REJECTED and is_expired(sub.expires_on, start))
    rejected = tuple(sub.plan for sub, review in on_file if review == REJECTED)
    unaccepted = tuple(
        sub.plan for sub, review in on_file
        if review != REJECTED and not is_expired(sub.expires_on, start)
        and not counts_as_proof(review, sub.saved_anyway, must_be_accepted)
    )
    no_licenses = not on_file
    byol = enrolled and not no_licenses and not expired and not rejected and not unaccepted
    return CycleBilling(
        cycle_start=start,
        mode=BYOL if byol else SUBSCRIPTION,
        status=status,
        enrolled=enrolled,
        expired=expired,
        rejected=rejected,
        unaccepted=unaccepted,
        no_licenses=no_licenses,
        byol_seats=sum(sub.seats for sub, _ in on_file) if byol else 0,
        earliest_expiration=min((sub.expires_on for sub, _ in on_file), default=None),
        can_still_change=can_still_change,
        plans=tuple(sub.plan for sub, _ in on_file),
    )


def cycle_billing(year, month, account, submissions, today, timezone_name, must_be_accepted=False):
    """The account's billing for its cycle that starts in the month (year, month).

    A cycle that has started (its first day is today or earlier) is decided from what was on file
    at its start. One that has not is decided from what is on file now, and can still change.
    """
    start = cycle_start(year, month, account.billing_day)
    if start <= today:
        return decide(start, account, submissions, start_instant(start, timezone_name),
                      must_be_accepted=must_be_accepted)
    return decide(start, account, submissions, None, can_still_change=True, must_be_accepted=must_be_accepted)
