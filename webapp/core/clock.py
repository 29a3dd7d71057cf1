"""The one clock: now in UTC as the database stores it, and today's date in the provider's business time zone.

Views, commands and runs take the time from now() and today(), never from the system clock, so the
CLOCK setting (a callable returning naive UTC, which tests set to move time without sleeping)
moves everything the app decides by the time: link expiry, a claim's lease, a code's time step,
the business date. utcnow() is the real time, for column defaults and for code with no app around.
"""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def utcnow():
    """Now, as a naive UTC datetime (what both SQLite and PostgreSQL store)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def now():
    """The app's now (naive UTC): its CLOCK setting when it has one, else the real time."""
    clock = current_app.config.get("CLOCK") if has_app_context() else None
    return clock() if clock is not None else utcnow()


def today():
    """The app's today: the date of now() in its BUSINESS_TIMEZONE."""
    return business_date(now(), current_app.config["BUSINESS_TIMEZONE"])


def unix_time(moment):
    """A naive UTC datetime as a Unix timestamp (what TOTP codes are computed from)."""
    return moment.replace(tzinfo=timezone.utc).timestamp()


def business_today(timezone_name, now=None):
    """The calendar date in the provider's business time zone."""
    now = now or datetime.now(tz=ZoneInfo("UTC"))
    return now.astimezone(ZoneInfo(timezone_name)).date()


def business_date(utc_moment, timezone_name):
    """The business-time-zone calendar date of a moment stored as naive UTC (e.g. when proof was rejected)."""
    return business_today(timezone_name, now=utc_moment.replace(tzinfo=ZoneInfo("UTC")))
