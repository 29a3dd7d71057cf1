"""The time: now in UTC as the database stores it, and today's date in the provider's business time zone."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def utcnow():
    """Now, as a naive UTC datetime (what both SQLite and PostgreSQL store)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def business_today(timezone_name, now=None):
    """The calendar date in the provider's business time zone."""
    now = now or datetime.now(tz=ZoneInfo("UTC"))
    return now.astimezone(ZoneInfo(timezone_name)).date()


def business_date(utc_moment, timezone_name):
    """The business-time-zone calendar date of a moment stored as naive UTC (e.g. when proof was rejected)."""
    return business_today(timezone_name, now=utc_moment.replace(tzinfo=ZoneInfo("UTC")))
