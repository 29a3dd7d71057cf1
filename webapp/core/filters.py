"""Jinja filters: how dates and sizes read on every page and email."""
from datetime import date

from flask import current_app

from .clock import business_date

# What %b gives in the C locale the app runs in, without a strftime per date: a page of 50 rows has a hundred.
MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(value):
    """31 Dec 2026 (anything that is not a date, as stored, rather than an error)."""
    if not value:
        return ""
    if not isinstance(value, date):
        return str(value)
    return f"{value.day} {MONTH_ABBREVIATIONS[value.month - 1]} {value.year}"


def moment(value):
    """31 Dec 2026 14:05 UTC, for a stored UTC timestamp ('' for none)."""
    if not value:
        return ""
    return f"{day(value.date())} {value:%H:%M} UTC"


def business_day(value):
    """The business-calendar day of a stored UTC timestamp, as `day` writes it ('' for none)."""
    if not value:
        return ""
    return day(business_date(value, current_app.config["BUSINESS_TIMEZONE"]))


def filesize(size):
    """A byte count for people: 812 bytes, 45 KB, 2.3 MB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def duration(value):
    """A timedelta for people: 1 hour, 7 days, 90 minutes (the largest whole unit)."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def register(app):
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.filters["business_day"] = business_day
    app.jinja_env.filters["duration"] = duration
