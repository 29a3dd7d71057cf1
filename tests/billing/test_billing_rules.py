"""The billing rule as pure functions: no app, no database.

A started cycle is decided from what was on file at its start; a cycle not yet started from what is
on file now, flagged as one that can still change.
"""
from datetime import date, datetime

import pytest

from webapp.billing.rules import (
    BYOL,
    SUBSCRIPTION,
    AccountHistory,
    Change,
    Submission,
    cycle_billing,
    next_cycle,
    parse_cycle,
    start_instant,
    value_at,
)

UTC = "UTC"


def sub(plan="Office 365 E3", expires_on=date(2027, 6, 30), submitted_at=datetime(2026, 1, 5, 9), seats=25,
        license_id=1, version_id=1, review_status="pending", reviews=()):
    return Submission(license_id, plan, seats, expires_on, submitted_at, review_status, tuple(reviews), version_id)


def bill(month, submissions, today, billing_day=1, timezone=UTC, **account):
    year, number = month
    return cycle_billing(year, number, AccountHistory(billing_day, **account), submissions, today, timezone)


# -- billing days and leap years ---------------------------------------------------------------

@pytest.mark.parametrize(
    "billing_day, month, start",
    [
        (1, (2027, 2), date(2027, 2, 1)),
        (28, (2027, 2), date(2027, 2, 28)),
        (29, (2027, 2), date(2027, 2, 28)),
        (30, (2027, 2), date(2027, 2, 28)),
        (31, (2027, 2), date(2027, 2, 28)),
        (29, (2028, 2), date(2028, 2, 29)),  # leap year
        (30, (2028, 2), date(2028, 2, 29)),
        (31, (2028, 2), date(2028, 2, 29)),
        (30, (2027, 4), date(2027, 4, 30)),
        (31, (2027, 4), date(2027, 4, 30)),
        (31, (2027, 3), date(2027, 3, 31)),
        (29, (2100, 2), date(2100, 2, 28)),  # 2100 is not a leap year
    ],
)
def test_a_cycle_starts_on_the_billing_day_or_the_months_last_day(billing_day, month, start):
    assert bill(month, [sub()], today=date(2026, 12, 1), billing_day=billing_day).cycle_start == start


@pytest.mark.parametrize("billing_day", [1, 28, 29, 30, 31])
def test_a_license_is_billed_byol_through_the_cycle_that_starts_on_its_expiration_day(billing_day):
    start = bill((2027, 3), [], date(2027, 1, 1), billing_day).cycle_start
    on_start = [sub(expires_on=start)]
    today = date(2027, 5, 1)

    assert bill((2027, 3), on_start, today, billing_day).mode == BYOL
    april = bill((2027, 4), on_start, today, billing_day)
    assert april.mode == SUBSCRIPTION and april.expired == ("Office 365 E3",)
    assert april.reason == "expired: Office 365 E3"


def test_leap_day_billing_day_29_a_license_ending_feb_28():
    ends_feb_28 = [sub(expires_on=date(2028, 2, 28))]
    # 2028 is a leap year: the cycle starts on 29 Feb, the day after the license ends.
    assert bill((2028, 2), ends_feb_28, date(2028, 3, 1), billing_day=29).mode == SUBSCRIPTION
    # 2027 is not: the cycle starts on 28 Feb, the license's last day.
    ends_2027 = [sub(expires_on=date(2027, 2, 28))]
    assert bill((2027, 2), ends_2027, date(2027, 3, 1), billing_day=29).mode == BYOL


def test_leap_day_license_ending_feb_29():
    ends_leap_day = [sub(expires_on=date(2028, 2, 29))]
    assert bill((2028, 2), ends_leap_day, date(2028, 3, 2), billing_day=29).mode == BYOL
    assert bill((2028, 3), ends_leap_day, date(2028, 3, 2), billing_day=1).mode == SUBSCRIPTION
    assert bill((2028, 2), ends_leap_day, date(2028, 3, 2), billing_day=1).mode == BYOL


# -- late proof never rewrites a started cycle ------------------------------------------------

def test_late_upload_brings_byol_back_on_the_next_cycle_only():
    lapsed = sub(expires_on=date(2026, 12, 31), version_id=1)
    renewed = sub(expires_on=date(2027, 12, 31), submitted_at=datetime(2027, 1, 3, 10), version_id=2)
    today = date(2027, 1, 10)

    january = bill((2027, 1), [lapsed, renewed], today)
    february = bill((2027, 2), [lapsed, renewed], today)

    assert (january.mode, january.reason, january.can_still_change) == (SUBSCRIPTION, "expired: Office 365 E3", False)
    assert january.earliest_expiration == date(2026, 12, 31) and january.byol_seats == 0
    assert (february.mode, february.can_still_change, february.byol_seats) == (BYOL, True, 25)
    assert february.earliest_expiration == date(2027, 12, 31)
    # Next year, the same question gets the same answer.
    assert bill((2027, 1), [lapsed, renewed], date(2028, 1, 10)) == january


def test_proof_submitted_at_the_start_moment_is_late_and_a_second_before_is_not():
    lapsed = sub(expires_on=date(2026, 12, 31), version_id=1)
    at_start = sub(expires_on=date(2027, 12, 31), submitted_at=datetime(2027, 1, 1, 0, 0, 0), version_id=2)
    just_before = sub(expires_on=date(2027, 12, 31), submitted_at=datetime(2026, 12, 31, 23, 59, 59), version_id=2)

    assert bill((2027, 1), [lapsed, at_start], date(2027, 1, 5)).mode == SUBSCRIPTION
    assert bill((2027, 1), [lapsed, just_before], date(2027, 1, 5)).mode == BYOL


def test_the_start_moment_is_midnight_in_the_business_time_zone():
    assert start_instant(date(2027, 1, 1), "Europe/Berlin") == datetime(2026, 12, 31, 23, 0)
    lapsed = sub(expires_on=date(2026, 12, 31), version_id=1)
    # 23:30 UTC on 31 Dec is already 1 Jan in Berlin: too late there, in time in UTC.
    renewed = sub(expires_on=date(2027, 12, 31), submitted_at=datetime(2026, 12, 31, 23, 30), version_id=2)
    assert bill((2027, 1), [lapsed, renewed], date(2027, 1, 5), timezone="Europe/Berlin").mode == SUBSCRIPTION
    assert bill((2027, 1), [lapsed, renewed], date(2027, 1, 5), timezone=UTC).mode == BYOL


def test_the_cycle_starting_today_has_started():
    lapsed = sub(expires_on=date(2026, 12, 31), version_id=1)
    renewed_today = sub(expires_on=date(2027, 12, 31), submitted_at=datetime(2027, 1, 1, 8), version_id=2)
    january = bill((2027, 1), [lapsed, renewed_today], date(2027, 1, 1))
    assert (january.mode, january.can_still_change) == (SUBSCRIPTION, False)
    # The day before, it had not started: it is decided from what is on file now.
    assert bill((2027, 1), [lapsed, renewed_today], date(2026, 12, 31)).can_still_change


def test_the_next_cycle_uses_what_is_on_file_now_and_can_still_change():
    ends_soon = [sub(expires_on=date(2027, 1, 31))]
    february = bill((2027, 2), ends_soon, date(2027, 1, 20))
    assert (february.mode, february.can_still_change, february.reason) == (SUBSCRIPTION, True, "expired: Office 365 E3")


def test_a_license_added_after_the_start_does_not_count_for_that_cycle():
    e3 = sub(plan="Office 365 E3", license_id=1, version_id=1)
    late_e5 = sub(plan="Office 365 E5", license_id=2, version_id=2, seats=5,
                  expires_on=date(2026, 1, 1), submitted_at=datetime(2026, 3, 10))
    march = bill((2026, 3), [e3, late_e5], date(2026, 3, 20))
    april = bill((2026, 4), [e3, late_e5], date(2026, 3, 20))
    assert (march.mode, march.byol_seats, march.plans) == (BYOL, 25, ("Office 365 E3",))
    assert (april.mode, april.expired) == (SUBSCRIPTION, ("Office 365 E5",))


# -- review state as it was at the start ------------------------------------------------------

def test_a_rejection_before_the_start_bills_subscription():
    rejected = sub(review_status="rejected", reviews=[Change(datetime(2026, 2, 20), "pending", "rejected")])
    march = bill((2026, 3), [rejected], date(2026, 3, 5))
    assert (march.mode, march.rejected, march.reason) == (SUBSCRIPTION, ("Office 365 E3",), "proof rejected: Office 365 E3")


def test_a_rejection_after_the_start_leaves_the_started_cycle_alone():
    rejected = sub(review_status="rejected", reviews=[Change(datetime(2026, 3, 2), "accepted", "rejected"),
                                                      Change(datetime(2026, 1, 6), "pending", "accepted")])
    assert bill((2026, 3), [rejected], date(2026, 3, 5)).mode == BYOL
    assert bill((2026, 4), [rejected], date(2026, 3, 5)).mode == SUBSCRIPTION


def test_a_rejection_overturned_before_the_start_counts_as_accepted():
    reviewed = sub(review_status="accepted", reviews=[Change(datetime(2026, 2, 1), "pending", "rejected"),
                                                      Change(datetime(2026, 2, 27), "rejected", "accepted")])
    assert bill((2026, 2), [reviewed], date(2026, 3, 5), billing_day=14).mode == SUBSCRIPTION
    assert bill((2026, 3), [reviewed], date(2026, 3, 5)).mode == BYOL


def test_a_rejected_old_version_does_not_count_once_renewed_before_the_start():
    old = sub(version_id=1, review_status="rejected", reviews=[Change(datetime(2026, 1, 9), "pending", "rejected")])
    new = sub(version_id=2, submitted_at=datetime(2026, 1, 20))
    assert bill((2026, 2), [old, new], date(2026, 2, 3)).mode == BYOL
    assert bill((2026, 1), [old, new], date(2026, 2, 3), billing_day=15).mode == SUBSCRIPTION


def test_one_lapsed_plan_reverts_every_seat():
    e3 = sub(plan="Office 365 E3", license_id=1, version_id=1, seats=25)
    e1 = sub(plan="Office 365 E1", license_id=2, version_id=2, seats=10, expires_on=date(2026, 2, 10))
    f3 = sub(plan="Microsoft 365 F3", license_id=3, version_id=3, seats=4, review_status="rejected",
             reviews=[Change(datetime(2026, 1, 6), "pending", "rejected")])
    march = bill((2026, 3), [e3, e1, f3], date(2026, 3, 5))
    assert march.mode == SUBSCRIPTION and march.byol_seats == 0
    assert march.reason == "expired: Office 365 E1; proof rejected: Microsoft 365 F3"
    assert march.earliest_expiration == date(2026, 2, 10)


# -- enrollment, no licenses, suspension ------------------------------------------------------

def test_not_enrolled_is_billed_by_subscription_whatever_the_licenses():
    march = bill((2026, 3), [sub()], date(2026, 3, 5), enrolled=False)
    assert (march.mode, march.reason, march.byol_seats) == (SUBSCRIPTION, "not enrolled in BYOL", 0)


def test_an_enrollment_change_after_the_start_leaves_the_started_cycle_alone():
    switched = [Change(datetime(2026, 3, 10), True, False)]
    march = bill((2026, 3), [sub()], date(2026, 3, 20), enrolled=False, enrollment_changes=switched)
    april = bill((2026, 4), [sub()], date(2026, 3, 20), enrolled=False, enrollment_changes=switched)
    assert (march.mode, march.enrolled) == (BYOL, True)
    assert (april.mode, april.reason) == (SUBSCRIPTION, "not enrolled in BYOL")


def test_an_account_with_no_license_on_file_is_billed_by_subscription():
    march = bill((2026, 3), [], date(2026, 3, 5))
    assert (march.mode, march.reason, march.earliest_expiration) == (SUBSCRIPTION, "no license on file", None)


def test_a_suspended_account_is_billed_as_its_licenses_say_and_shows_its_status_then():
    suspended_later = [Change(datetime(2026, 3, 15), "active", "suspended")]
    march = bill((2026, 3), [sub()], date(2026, 4, 20), status="suspended", status_changes=suspended_later)
    april = bill((2026, 4), [sub()], date(2026, 4, 20), status="suspended", status_changes=suspended_later)
    assert (march.mode, march.status) == (BYOL, "active")
    assert (april.mode, april.status, april.byol_seats) == (BYOL, "suspended", 25)


def test_value_at_reads_the_first_change_after_the_moment():
    changes = [Change(datetime(2026, 1, 10), "a", "b"), Change(datetime(2026, 2, 10), "b", "c")]
    assert value_at("c", changes, datetime(2026, 1, 1)) == "a"
    assert value_at("c", changes, datetime(2026, 1, 10)) == "a"  # a change at the moment came too late
    assert value_at("c", changes, datetime(2026, 1, 20)) == "b"
    assert value_at("c", changes, datetime(2026, 3, 1)) == "c"
    assert value_at("c", changes, None) == "c"


# -- the cycle a report asks for --------------------------------------------------------------

@pytest.mark.parametrize("text, month", [("2027-01", (2027, 1)), (" 2026-12 ", (2026, 12)), ("1900-01", (1900, 1)), ("2999-12", (2999, 12))])
def test_parse_cycle_reads_a_month(text, month):
    assert parse_cycle(text) == month


@pytest.mark.parametrize("text", [None, "", "2027-13", "2027-00", "2027-1", "27-01", "2027/01", "9999-12",
                                  "２０２７-01", "2027-01-01", "0000-05", "0001-01", "1899-12", "3000-01", "=1+1",
                                  "2027-01\x00"])
def test_parse_cycle_refuses_what_is_not_a_month(text):
    assert parse_cycle(text) is None


def test_next_cycle_is_the_month_after_today():
    assert next_cycle(date(2026, 12, 6)) == (2027, 1)
    assert next_cycle(date(2027, 1, 31)) == (2027, 2)


def test_the_openapi_pattern_accepts_exactly_what_parse_cycle_accepts():
    import re

    from webapp.billing.rules import CYCLE_PATTERN

    for year in (1, 1899, 1900, 2026, 2999, 3000, 9999):
        for month in (0, 1, 12, 13):
            text = f"{year:04d}-{month:02d}"
            assert bool(re.search(CYCLE_PATTERN, text)) == (parse_cycle(text) is not None), text
