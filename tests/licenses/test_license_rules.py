"""The license rules of docs/domain.md (webapp.licenses.rules) as plain functions: no app, no database,
`today` passed in."""
import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from webapp.core import clock
from webapp.core.clock import business_date, business_today
from webapp.licenses.rules import (
    LicenseTerms,
    Status,
    byol_status,
    current_cycle_start,
    days_left,
    is_expired,
    license_status,
    next_cycle_start,
    reminder_due,
    reminder_window,
    years_ahead,
)

TODAY = date(2026, 6, 15)


def days(n):
    return TODAY + timedelta(days=n)


# --- license status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_on", "rejected", "expected"),
    [
        (days(365), False, Status.CURRENT),
        (days(31), False, Status.CURRENT),
        (days(30), False, Status.EXPIRING_SOON),
        (days(1), False, Status.EXPIRING_SOON),
        (days(0), False, Status.EXPIRING_SOON),  # the expiration day itself is still valid
        (days(-1), False, Status.EXPIRED),  # expired from the next day on
        (days(-400), False, Status.EXPIRED),
        (days(365), True, Status.REJECTED),  # a rejected proof wins over every date
        (days(10), True, Status.REJECTED),
        (days(0), True, Status.REJECTED),
        (days(-1), True, Status.REJECTED),
    ],
    ids=lambda v: v.name if isinstance(v, Status) else str(v),
)
def test_license_status(expires_on, rejected, expected):
    assert license_status(expires_on, TODAY, rejected=rejected) is expected


@pytest.mark.parametrize(
    ("status", "keeps_byol"),
    [(Status.CURRENT, True), (Status.EXPIRING_SOON, True), (Status.EXPIRED, False), (Status.REJECTED, False)],
)
def test_which_statuses_keep_byol(status, keeps_byol):
    assert status.keeps_byol is keeps_byol


@pytest.mark.parametrize(
    ("expires_on", "expired"),
    [(days(1), False), (days(0), False), (days(-1), True)],
)
def test_valid_through_the_expiration_day(expires_on, expired):
    assert is_expired(expires_on, TODAY) is expired


def test_status_across_a_year_end():
    assert license_status(date(2026, 12, 31), date(2026, 12, 31)) is Status.EXPIRING_SOON
    assert license_status(date(2026, 12, 31), date(2027, 1, 1)) is Status.EXPIRED
    assert license_status(date(2027, 1, 30), date(2026, 12, 31)) is Status.EXPIRING_SOON  # 30 days left
    assert license_status(date(2027, 1, 31), date(2026, 12, 31)) is Status.CURRENT  # 31 days left


# --- reminders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_before", "due"),
    [(45, False), (31, False), (30, True), (29, True), (1, True), (0, True), (-1, False), (-30, False)],
)
def test_reminder_due(days_before, due):
    assert reminder_due(days(days_before), TODAY) is due


def test_reminder_window_matches_reminder_due():
    first, last = reminder_window(TODAY)
    assert (first, last) == (TODAY, days(30))
    for n in range(-5, 40):
        assert reminder_due(days(n), TODAY) is (first <= days(n) <= last), n


# --- billing cycles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "billing_day", "expected"),
    [
        # Billing day 1.
        (date(2026, 12, 31), 1, date(2027, 1, 1)),  # year end
        (date(2027, 1, 1), 1, date(2027, 2, 1)),  # strictly after: a cycle starting that day is not next
        (date(2026, 6, 15), 1, date(2026, 7, 1)),
        (date(2027, 2, 28), 1, date(2027, 3, 1)),
        (date(2028, 2, 28), 1, date(2028, 3, 1)),
        (date(2028, 2, 29), 1, date(2028, 3, 1)),
        # Billing day 31: months without a 31st start on their last day.
        (date(2027, 1, 15), 31, date(2027, 1, 31)),
        (date(2027, 1, 31), 31, date(2027, 2, 28)),
        (date(2028, 1, 31), 31, date(2028, 2, 29)),  # leap year
        (date(2027, 2, 28), 31, date(2027, 3, 31)),
        (date(2028, 2, 28), 31, date(2028, 2, 29)),
        (date(2028, 2, 29), 31, date(2028, 3, 31)),  # leap day
        (date(2027, 4, 30), 31, date(2027, 5, 31)),
        (date(2027, 4, 29), 31, date(2027, 4, 30)),
        (date(2026, 12, 30), 31, date(2026, 12, 31)),
        (date(2026, 12, 31), 31, date(2027, 1, 31)),  # year end
        # Billing days 29 and 30 around February.
        (date(2027, 1, 30), 30, date(2027, 2, 28)),
        (date(2027, 2, 28), 30, date(2027, 3, 30)),
        (date(2027, 2, 1), 29, date(2027, 2, 28)),
        (date(2028, 2, 1), 29, date(2028, 2, 29)),
        (date(2028, 2, 29), 29, date(2028, 3, 29)),
        # Billing day 15, mid-month.
        (date(2026, 6, 14), 15, date(2026, 6, 15)),
        (date(2026, 6, 15), 15, date(2026, 7, 15)),
        (date(2026, 12, 20), 15, date(2027, 1, 15)),
    ],
    ids=str,
)
def test_next_cycle_start(after, billing_day, expected):
    assert next_cycle_start(after, billing_day) == expected


@pytest.mark.parametrize(
    ("today", "billing_day", "expected"),
    [
        (date(2027, 1, 1), 1, date(2027, 1, 1)),  # the cycle starting today is the current one
        (date(2026, 12, 31), 1, date(2026, 12, 1)),
        (date(2027, 1, 30), 31, date(2026, 12, 31)),  # across the year end
        (date(2027, 1, 31), 31, date(2027, 1, 31)),
        (date(2027, 3, 15), 31, date(2027, 2, 28)),
        (date(2028, 3, 15), 31, date(2028, 2, 29)),
        (date(2028, 2, 29), 31, date(2028, 2, 29)),  # leap day
        (date(2028, 2, 28), 31, date(2028, 1, 31)),
        (date(2027, 3, 29), 30, date(2027, 2, 28)),
        (date(2026, 6, 14), 15, date(2026, 5, 15)),
    ],
    ids=str,
)
def test_current_cycle_start(today, billing_day, expected):
    assert current_cycle_start(today, billing_day) == expected


@pytest.mark.parametrize("billing_day", [1, 15, 28, 29, 30, 31])
def test_cycles_chain_without_gaps_over_two_years(billing_day):
    """Every day lies in exactly one cycle: the current cycle's successor is the next cycle."""
    day = date(2026, 12, 1)
    while day < date(2029, 1, 1):
        start = current_cycle_start(day, billing_day)
        following = next_cycle_start(day, billing_day)
        assert start <= day < following, (day, billing_day)
        assert next_cycle_start(start, billing_day) == following
        assert following.day == min(billing_day, calendar.monthrange(following.year, following.month)[1])
        day += timedelta(days=1)


# --- the BYOL roll-up -------------------------------------------------------------------------


def plan(name, expires_on, seats=10, rejected=False, rejected_on=None):
    return LicenseTerms(plan=name, seats=seats, expires_on=expires_on, rejected=rejected, rejected_on=rejected_on)


def test_all_current_is_valid_until_the_earliest_expiry_with_that_plan_named():
    licenses = [
        plan("Microsoft 365 Business Standard", date(2027, 3, 31), seats=25),
        plan("Office 365 E3", date(2026, 12, 31), seats=10),
        plan("Office 365 E1", date(2027, 1, 20), seats=5),
    ]
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert status.enrolled and status.valid
    assert status.valid_until == date(2026, 12, 31)
    assert status.lapsing.plan == "Office 365 E3"
    assert status.subscription_from == date(2027, 1, 1)  # docs/domain.md's example
    assert status.seats == 40
    assert not status.already_moved
    assert not status.no_licenses


def test_expiring_soon_still_keeps_byol_valid():
    licenses = [plan("Office 365 E3", days(0)), plan("Office 365 E1", days(200))]
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert status.valid
    assert status.valid_until == TODAY
    assert status.subscription_from == date(2026, 7, 1)


def test_valid_with_billing_day_31_names_the_month_end_cycle():
    status = byol_status([plan("Office 365 E3", date(2027, 1, 31))], today=TODAY, billing_day=31)
    assert status.valid and status.valid_until == date(2027, 1, 31)
    assert status.subscription_from == date(2027, 2, 28)


@pytest.mark.parametrize(
    ("today", "subscription_from", "already_moved"),
    [
        # E3 expired 2026-06-10; billing day 15: the first cycle after the expiry starts 2026-06-15.
        (date(2026, 6, 11), date(2026, 6, 15), False),
        (date(2026, 6, 14), date(2026, 6, 15), False),
        (date(2026, 6, 15), date(2026, 6, 15), True),  # the cycle starting today is already billed by subscription
        (date(2026, 9, 1), date(2026, 6, 15), True),  # the date stays the first cycle after the expiry
    ],
    ids=str,
)
def test_one_expired_plan_among_several_lapses_byol(today, subscription_from, already_moved):
    licenses = [
        plan("Microsoft 365 Business Standard", date(2027, 3, 31), seats=25),
        plan("Office 365 E3", date(2026, 6, 10), seats=10),
        plan("Office 365 E1", date(2026, 6, 20), seats=5),
    ]
    status = byol_status(licenses, today=today, billing_day=15)
    assert status.enrolled and not status.valid
    assert status.lapsing.plan == "Office 365 E3"
    assert status.valid_until is None
    assert status.subscription_from == subscription_from
    assert status.already_moved is already_moved
    assert status.seats == 40  # one lapsed plan moves every BYOL user, not just that plan's


def test_the_earliest_of_several_expired_plans_decides():
    licenses = [
        plan("Office 365 E1", date(2026, 5, 20)),
        plan("Office 365 E3", date(2026, 4, 30)),
        plan("Microsoft 365 Business Standard", date(2027, 1, 1)),
    ]
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert not status.valid
    assert status.lapsing.plan == "Office 365 E3"
    assert status.subscription_from == date(2026, 5, 1)
    assert status.already_moved


def test_expired_on_the_last_day_of_the_year_moves_from_the_first_of_january():
    licenses = [plan("Office 365 E3", date(2026, 12, 31)), plan("Office 365 E1", date(2027, 6, 1))]
    on_expiry = byol_status(licenses, today=date(2026, 12, 31), billing_day=1)
    assert on_expiry.valid and on_expiry.subscription_from == date(2027, 1, 1)
    next_day = byol_status(licenses, today=date(2027, 1, 1), billing_day=1)
    assert not next_day.valid
    assert next_day.subscription_from == date(2027, 1, 1)
    assert next_day.already_moved


def test_rejected_proof_counts_as_missing():
    licenses = [
        plan("Microsoft 365 Business Standard", date(2027, 3, 31), seats=25),
        plan("Office 365 E3", date(2027, 1, 31), seats=10, rejected=True, rejected_on=date(2026, 6, 10)),
    ]
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert not status.valid
    assert status.lapsing.plan == "Office 365 E3"
    assert status.lapsing.rejected
    assert status.valid_until is None
    assert status.subscription_from == date(2026, 7, 1)
    assert not status.already_moved


def test_rejected_long_ago_has_already_moved():
    licenses = [plan("Office 365 E3", date(2027, 1, 31), rejected=True, rejected_on=date(2026, 4, 20))]
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert not status.valid
    assert status.subscription_from == date(2026, 5, 1)
    assert status.already_moved


def test_only_rejected_licenses_are_no_better_than_none():
    status = byol_status([plan("Office 365 E3", days(300), rejected=True, rejected_on=TODAY)], today=TODAY, billing_day=1)
    assert not status.valid
    assert not status.no_licenses


def test_no_licenses_is_not_valid():
    status = byol_status([], today=TODAY, billing_day=1)
    assert status.enrolled
    assert not status.valid
    assert status.no_licenses
    assert status.lapsing is None and status.valid_until is None
    assert status.subscription_from == date(2026, 7, 1)
    assert status.seats == 0


@pytest.mark.parametrize(
    "licenses",
    [
        [],
        [plan("Office 365 E3", days(200))],
        [plan("Office 365 E3", days(-10))],
    ],
    ids=["no licenses", "current license", "expired license"],
)
def test_not_enrolled_is_billed_by_subscription_whatever_the_licenses_say(licenses):
    status = byol_status(licenses, today=TODAY, billing_day=1, enrolled=False)
    assert not status.enrolled
    assert not status.valid
    assert status.valid_until is None


def test_roll_up_accepts_any_iterable():
    licenses = (plan(name, days(100 + n)) for n, name in enumerate(["Office 365 E1", "Office 365 E3"]))
    status = byol_status(licenses, today=TODAY, billing_day=1)
    assert status.valid and status.seats == 20 and status.lapsing.plan == "Office 365 E1"


# --- the business day -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc_now", "timezone_name", "expected"),
    [
        (datetime(2026, 6, 15, 23, 30), "UTC", date(2026, 6, 15)),
        (datetime(2026, 6, 15, 23, 30), "Pacific/Auckland", date(2026, 6, 16)),  # NZST, UTC+12
        (datetime(2026, 12, 31, 10, 59), "Pacific/Auckland", date(2026, 12, 31)),  # NZDT, UTC+13: 23:59
        (datetime(2026, 12, 31, 11, 0), "Pacific/Auckland", date(2027, 1, 1)),  # midnight NZDT: a new year
        (datetime(2026, 6, 16, 2, 0), "America/Los_Angeles", date(2026, 6, 15)),  # PDT, UTC-7
        (datetime(2026, 6, 16, 7, 0), "America/Los_Angeles", date(2026, 6, 16)),
        (datetime(2028, 2, 29, 23, 0), "Europe/Berlin", date(2028, 3, 1)),  # CET, UTC+1, past the leap day
    ],
    ids=str,
)
def test_business_today(utc_now, timezone_name, expected):
    assert business_today(timezone_name, now=utc_now.replace(tzinfo=ZoneInfo("UTC"))) == expected


def test_business_today_without_now_is_a_date_near_utc_today():
    utc_today = datetime.now(tz=ZoneInfo("UTC")).date()
    assert abs((business_today("Pacific/Auckland") - utc_today).days) <= 1
    assert business_today("UTC") in {utc_today, utc_today + timedelta(days=1)}


def test_now_outside_an_app_is_the_real_time():
    """Code with no app around (a test's thread, a model default) gets the real time, not an error."""
    before = clock.utcnow()
    assert before <= clock.now() <= clock.utcnow()


# --- any date a database can hold -------------------------------------------------------------

any_date = st.dates(min_value=date.min, max_value=date.max)
billing_days = st.integers(min_value=1, max_value=31)
licenses = st.lists(
    st.builds(
        LicenseTerms,
        plan=st.sampled_from(["Office 365 E3", "Microsoft 365 Business Standard"]),
        seats=st.integers(min_value=1, max_value=1_000_000),
        expires_on=any_date,
        rejected=st.booleans(),
        rejected_on=st.none() | any_date,
        unaccepted=st.booleans(),
        unaccepted_on=st.none() | any_date,
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(today=any_date, billing_day=billing_days, terms=licenses, enrolled=st.booleans())
@example(today=date.max, billing_day=31, terms=[LicenseTerms("E3", 1, date.max)], enrolled=True)
@example(today=date.max, billing_day=1, terms=[LicenseTerms("E3", 1, date(9999, 12, 30))], enrolled=True)
@example(today=date.min, billing_day=31, terms=[LicenseTerms("E3", 1, date.min, True, date.min)], enrolled=True)
@example(today=date(2026, 12, 6), billing_day=1, terms=[LicenseTerms("E3", 25, date(9999, 12, 31))], enrolled=True)
def test_the_domain_never_raises_for_any_date_a_database_can_hold(today, billing_day, terms, enrolled):
    for lic in terms:
        status = license_status(lic.expires_on, today, lic.rejected, lic.unaccepted)
        assert isinstance(status, Status)
        assert reminder_due(lic.expires_on, today) is (0 <= days_left(lic.expires_on, today) <= 30)
    first, last = reminder_window(today)
    assert first == today and today <= last <= date.max

    start = current_cycle_start(today, billing_day)
    assert start <= today
    following = next_cycle_start(today, billing_day)
    # None only when the next cycle would begin after 31 Dec 9999.
    assert following is None or following > today
    assert following is not None or (today.year, today.month) == (9999, 12)
    assert years_ahead(today, 5) >= today

    standing = byol_status(terms, today, billing_day, enrolled=enrolled)
    assert standing.valid is (enrolled and bool(terms) and all(
        license_status(lic.expires_on, today, lic.rejected, lic.unaccepted).keeps_byol for lic in terms
    ))
    if standing.subscription_from is not None and standing.valid:
        assert standing.subscription_from > standing.valid_until


def test_a_license_valid_until_the_end_of_the_calendar_names_no_cycle_after_it():
    standing = byol_status([LicenseTerms("Office 365 E3", 25, date(9999, 12, 31))], TODAY, billing_day=1)
    assert standing.valid and standing.valid_until == date(9999, 12, 31)
    assert standing.subscription_from is None and not standing.already_moved
    # The cycle after 1 Dec 9999 still exists only while it starts in December 9999.
    assert next_cycle_start(date(9999, 12, 14), 15) == date(9999, 12, 15)
    assert next_cycle_start(date(9999, 12, 15), 15) is None
    assert current_cycle_start(date(1, 1, 14), 15) == date.min


@pytest.mark.parametrize(
    ("today", "years", "expected"),
    [
        (date(2026, 12, 6), 5, date(2031, 12, 6)),
        (date(2028, 2, 29), 5, date(2033, 2, 28)),  # no 29 February in 2033
        (date(2028, 2, 29), 4, date(2032, 2, 29)),
        (date(9996, 3, 1), 5, date.max),
    ],
    ids=str,
)
def test_years_ahead(today, years, expected):
    assert years_ahead(today, years) == expected


@pytest.mark.parametrize(
    ("utc_moment", "timezone_name", "expected"),
    [
        (datetime(2026, 6, 30, 22, 30), "Europe/Berlin", date(2026, 7, 1)),  # 00:30 in Berlin
        (datetime(2026, 7, 1, 2, 0), "America/New_York", date(2026, 6, 30)),  # 22:00 the evening before
        (datetime(2026, 7, 1, 2, 0), "UTC", date(2026, 7, 1)),
    ],
    ids=str,
)
def test_business_date_of_a_stored_utc_moment(utc_moment, timezone_name, expected):
    assert business_date(utc_moment, timezone_name) == expected
