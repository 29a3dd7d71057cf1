"""The domain rules (docs/domain.md) as plain functions over dates. No Flask, no database.

Every function that depends on the day takes `today` as an argument. None of them raises for a
date a database can hold (date.min to date.max) and a billing day from 1 to 31: where the answer
would fall outside the calendar (the cycle after December 9999), it is None, or the calendar's end.
"""
import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

EXPIRING_SOON_DAYS = 30
REMINDER_DAYS_BEFORE = 30


class Status(enum.Enum):
    """What the Client Licenses tab shows for one license."""

    CURRENT = "current"
    EXPIRING_SOON = "expiring soon"
    EXPIRED = "expired"
    REJECTED = "proof rejected"
    # Saved anyway against a document that says otherwise (or any proof, when the provider requires
    # acceptance): not counted until staff accept it.
    UNACCEPTED = "not counted until accepted"

    @property
    def keeps_byol(self):
        return self in (Status.CURRENT, Status.EXPIRING_SOON)


def years_ahead(today, years):
    """The same calendar day `years` later (29 February falls on the 28th), or date.max past the calendar."""
    year = today.year + years
    if year > date.max.year:
        return date.max
    return today.replace(year=year, day=min(today.day, calendar.monthrange(year, today.month)[1]))


def days_left(expires_on, today):
    """Whole days from today to the expiration date (0 on the day itself, negative once expired)."""
    return (expires_on - today).days


def is_expired(expires_on, today):
    """A license is valid through its expiration date and expired from the next day on."""
    return today > expires_on


def license_status(expires_on, today, rejected=False, unaccepted=False):
    """Current, expiring soon (within 30 days), expired, proof rejected or not yet accepted (both count as missing)."""
    if rejected:
        return Status.REJECTED
    if is_expired(expires_on, today):
        return Status.EXPIRED
    if unaccepted:
        return Status.UNACCEPTED
    if days_left(expires_on, today) <= EXPIRING_SOON_DAYS:
        return Status.EXPIRING_SOON
    return Status.CURRENT


PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"


def counts_as_proof(review_status, saved_anyway=False, must_be_accepted=False):
    """Whether a version's proof counts for BYOL in its review state (docs/domain.md, "Trust in proof").

    Accepted proof counts; rejected proof counts as missing. Proof awaiting review counts, since
    uploading is what keeps BYOL, unless the customer saved it anyway against a document that says
    otherwise, or the provider requires acceptance (PROOF_MUST_BE_ACCEPTED): then only once accepted.
    """
    if review_status == ACCEPTED:
        return True
    if review_status == REJECTED:
        return False
    return not (saved_anyway or must_be_accepted)


def reminder_due(expires_on, today):
    """The 30-day reminder is due from 30 days before expiry through the expiration day itself."""
    return 0 <= days_left(expires_on, today) <= REMINDER_DAYS_BEFORE


def expiring_window(today):
    """The (first, last) expiration dates of a license that is expiring soon on `today`."""
    return today, _days_later(today, EXPIRING_SOON_DAYS)


def reminder_window(today):
    """The (first, last) expiration dates whose reminder is due on `today`."""
    return today, _days_later(today, REMINDER_DAYS_BEFORE)


def _days_later(day, n):
    """`n` days after `day`, or date.max when that is past the calendar."""
    if (date.max - day).days < n:
        return date.max
    return day + timedelta(days=n)


def cycle_start(year, month, billing_day):
    """The day a billing cycle starts in a month; a billing day past the month's end falls on its last day."""
    return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))


def _add_months(year, month, n):
    """(year, month) `n` months on, or None when that is outside the calendar (years 1 to 9999)."""
    index = year * 12 + (month - 1) + n
    year, month = index // 12, index % 12 + 1
    if not date.min.year <= year <= date.max.year:
        return None
    return year, month


def current_cycle_start(today, billing_day):
    """The start of the billing cycle that `today` falls in (date.min for a cycle begun before the calendar)."""
    start = cycle_start(today.year, today.month, billing_day)
    if start <= today:
        return start
    previous = _add_months(today.year, today.month, -1)
    return cycle_start(*previous, billing_day) if previous else date.min


def next_cycle_start(after, billing_day):
    """The first billing cycle that starts strictly after the given day; None if that is past date.max."""
    start = cycle_start(after.year, after.month, billing_day)
    if start > after:
        return start
    following = _add_months(after.year, after.month, 1)
    return cycle_start(*following, billing_day) if following else None


class LicenseTerms(NamedTuple):
    """What the BYOL roll-up needs to know of one license.

    A named tuple: the accounts list builds one per license of a page (over a thousand), and a frozen
    dataclass cost several times more to build.
    """

    plan: str
    seats: int
    expires_on: date
    rejected: bool = False
    rejected_on: date | None = None
    # Awaiting review, and not counted until accepted (counts_as_proof); `unaccepted_on` is the day it
    # was submitted, from which the license no longer counts.
    unaccepted: bool = False
    unaccepted_on: date | None = None
    # The customer asked to remove the plan; until staff confirm it still counts (docs/domain.md).
    removal_awaiting: bool = False


@dataclass(frozen=True)
class ByolStatus:
    """Where an account stands, in dates.

    `valid` is whether BYOL holds today. `lapsing` is the license that decides the date:
    the first to expire while valid, or the one that broke BYOL. `valid_until` is the last
    day BYOL holds (None once it is broken). `subscription_from` is the start of the first
    billing cycle billed by subscription (None when no calendar date is left for it: a license
    expiring on 31 Dec 9999); `already_moved` says whether that cycle has begun.
    `broken` lists every license that is expired or rejected, first to lapse first.
    """

    enrolled: bool
    valid: bool
    seats: int
    lapsing: LicenseTerms | None
    valid_until: date | None
    subscription_from: date | None
    already_moved: bool
    no_licenses: bool
    broken: tuple = ()


def byol_status(licenses, today, billing_day, enrolled=True):
    """Roll an account's licenses up into its BYOL status: one lapsed plan reverts every BYOL user."""
    licenses = list(licenses)
    seats = sum(lic.seats for lic in licenses)
    if not enrolled:
        return ByolStatus(False, False, seats, None, None, None, False, not licenses)
    if not licenses:
        starts = next_cycle_start(today, billing_day)
        return ByolStatus(True, False, 0, None, None, starts, False, True)

    def lapse_day(lic):
        # The last day the license counts: its expiration date, or the day its proof was rejected, or
        # the day a version not counted until accepted took its place.
        if lic.rejected:
            return min(lic.rejected_on or today, lic.expires_on)
        if lic.unaccepted and not is_expired(lic.expires_on, today):
            return min(lic.unaccepted_on or today, lic.expires_on)
        return lic.expires_on

    broken = [
        lic for lic in licenses
        if not license_status(lic.expires_on, today, lic.rejected, lic.unaccepted).keeps_byol
    ]
    if broken:
        broken.sort(key=lambda lic: (lapse_day(lic), lic.plan))
        first = broken[0]
        starts = next_cycle_start(lapse_day(first), billing_day)
        already_moved = starts is not None and starts <= today
        return ByolStatus(True, False, seats, first, None, starts, already_moved, False, tuple(broken))

    first = min(licenses, key=lambda lic: (lic.expires_on, lic.plan))
    starts = next_cycle_start(first.expires_on, billing_day)
    return ByolStatus(True, True, seats, first, first.expires_on, starts, False, False)


def removal_waits_for_staff(lic, today):
    """Whether removing this license waits for staff: a lapsed plan (expired, rejected, or counting as
    missing) does not cure the lapse by being removed (docs/domain.md, "Removing a plan")."""
    return not license_status(lic.expires_on, today, lic.rejected, lic.unaccepted).keeps_byol


def is_lapsed(byol):
    """An enrolled account whose BYOL a plan broke (expired or proof rejected); none on file is "no proof"."""
    return byol.enrolled and not byol.no_licenses and not byol.valid


def standing_rank(byol):
    """Where the accounts list puts an account sorted by BYOL status: lapsed, no proof, valid, not enrolled."""
    if not byol.enrolled:
        return 3
    if byol.no_licenses:
        return 1
    return 2 if byol.valid else 0


@dataclass(frozen=True)
class AccountPosition:
    """Where an account stands for one plan's message (the banner, a reminder): what else needs proof.

    `needing_proof` names every plan that does not count today (expired, proof rejected, or not
    counted until accepted), first to lapse first. `lapsed_by_others` is whether BYOL has lapsed
    because of a plan other than `plan`. `renewal_restores` is whether bringing `plan` up to date
    alone would bring BYOL back (never promised while another plan still needs proof).
    """

    lapsed: bool
    needing_proof: tuple
    lapsed_by_others: bool
    renewal_restores: bool


def where_account_stands(byol, plan=None):
    """The account's position for a message about `plan` (None: about the account as a whole).

    For the BYOL banner and the reminder emails alike: once BYOL has lapsed because of another plan,
    a message about this one must say so and name every plan still needing proof.
    """
    if not byol.enrolled or byol.no_licenses:
        return AccountPosition(False, (), False, False)
    needing = tuple(lic.plan for lic in byol.broken)
    others = tuple(name for name in needing if name != plan)
    return AccountPosition(
        lapsed=not byol.valid,
        needing_proof=needing,
        lapsed_by_others=bool(others),
        renewal_restores=not others,
    )
