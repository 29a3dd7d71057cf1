"""The customer's calendar feed: a secret URL per account, and the iCalendar it serves.

The token is in the URL only; the database keeps its SHA-256. Regenerate replaces the hash in one
UPDATE, so the old URL stops working at once.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from icalendar import Calendar, Event
from peewee import IntegrityError

from .. import audit
from ..accounts.models import Account
from ..core.clock import utcnow
from ..core.secret_tokens import digest, new_token
from ..extensions import db
from ..licenses.rules import REMINDER_DAYS_BEFORE
from .models import CalendarFeed

MAX_TOKEN_LENGTH = 100


def has_feed(account_id):
    return CalendarFeed.select(CalendarFeed.id).where(CalendarFeed.account == account_id).exists()


def issue_feed_token(account_id, user_id=None):
    """A new secret token for the account's feed; any earlier one stops working. Returns the token.

    The Activity page says who made the link and when (never the link itself).
    """
    token = new_token()
    token_hash = digest(token)
    with db.database.atomic():
        replaced = (
            CalendarFeed.update(token_hash=token_hash, created_by=user_id, created_at=utcnow())
            .where(CalendarFeed.account == account_id)
            .execute()
        )
        if not replaced:
            try:
                with db.database.atomic():
                    CalendarFeed.create(account=account_id, token_hash=token_hash, created_by=user_id)
            except IntegrityError:
                # Another Create for the account won the insert; this one replaces its token instead.
                replaced = CalendarFeed.update(token_hash=token_hash, created_by=user_id).where(
                    CalendarFeed.account == account_id
                ).execute()
        audit.record("calendar_feed.issued", account=account_id, subject="calendar feed link",
                     after={"link": "replaced; the earlier link stopped working" if replaced else "created"})
    return token


def account_of_token(token):
    """The active account whose feed this token opens, or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    return (
        Account.select()
        .join(CalendarFeed, on=(CalendarFeed.account == Account.id))
        .where((CalendarFeed.token_hash == digest(token)) & (Account.status == Account.ACTIVE))
        .first()
    )


@dataclass(frozen=True)
class FeedLicense:
    """What the feed shows of one license."""

    license_id: int
    plan: str
    seats: int
    expires_on: date
    updated_at: datetime


def reminder_day(expires_on):
    """The day the 30-day reminder falls due."""
    return expires_on - timedelta(days=REMINDER_DAYS_BEFORE)


def build_calendar(account_name, licenses, host, portal_url, now):
    """The iCalendar (bytes) with, per license, its expiration day and its reminder day as all-day events.

    Each event's UID names the license and the kind, not the date, so a calendar moves the event when
    a renewal changes the date instead of keeping the old one beside it.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//Client Licenses portal//calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{account_name}: Office 365 licenses")
    for lic in licenses:
        for kind, day, summary, description in (
            ("expires", lic.expires_on, f"{lic.plan} expires",
             f"The {lic.plan} license ({lic.seats} seats) is valid through this day. If it is not updated by "
             f"then, every BYOL user of {account_name} moves to subscription billing from the next billing cycle."),
            ("reminder", reminder_day(lic.expires_on), f"Renew {lic.plan}: {REMINDER_DAYS_BEFORE} days left",
             f"The {lic.plan} license expires on {lic.expires_on:%d %b %Y}. Update it on the Client Licenses tab "
             "with the new expiration date and proof of licensing."),
        ):
            event = Event()
            event.add("uid", f"license-{lic.license_id}-{kind}@{host}")
            event.add("summary", summary)
            event.add("description", description)
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
            event.add("dtstamp", now)
            event.add("last-modified", lic.updated_at.replace(tzinfo=timezone.utc))
            event.add("url", portal_url)
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    return calendar.to_ical()
