"""Which reminders are due: the due-window joins, the claimable test, the dry-run preview and staff's view.

Queries only; the run (`run.py`) arms, claims and records with them.
"""
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from peewee import JOIN, Tuple, fn

from ..accounts.models import Account
from ..core import clock
from ..licenses.models import License, LicenseVersion, Product
from ..licenses.rules import reminder_window
from .models import Reminder

KIND = Reminder.EXPIRY_30_DAYS


@dataclass(frozen=True)
class DueReminder:
    """One reminder to send: the license's current terms and its account, as the email needs them."""

    reminder_id: int | None
    license_id: int
    account_id: int
    account_name: str
    billing_day: int
    product: str
    plan: str
    seats: int
    expires_on: date
    contact_name: str
    contact_email: str
    # The address the reminder row holds (from arming or the last attempt); "" in a dry run.
    recipient_on_file: str = ""
    # Seats over all the account's licenses: every one of those users moves if one plan lapses.
    byol_users: int = 0



def claim_lease():
    return timedelta(seconds=float(current_app.config["REMINDER_CLAIM_LEASE"]))


def max_attempts():
    return int(current_app.config["REMINDER_MAX_ATTEMPTS"])


def batch_size():
    return max(1, int(current_app.config["REMINDER_BATCH_SIZE"]))


def due_license_join(query, today, window_on=LicenseVersion.expires_on):
    """Limit a query over License to current versions due on `today`, on active BYOL accounts; a
    license the customer removed gets no reminder.

    `window_on` is the column the date window applies to: the database starts from the table it
    constrains, so the walk over reminders puts it on Reminder.expires_on.
    """
    first, last = reminder_window(today)
    return (
        query.join(LicenseVersion, on=(
            (LicenseVersion.license == License.id) & (License.current == LicenseVersion.id)
        ))
        .join_from(License, Account, on=(License.account == Account.id))
        .where(
            window_on.between(first, last),
            License.retired_at.is_null(),
            Account.status == Account.ACTIVE,
            Account.byol_enrolled == True,  # noqa: E712
        )
    )


def reminder_for_version():
    return (
        (Reminder.license == License.id)
        & (Reminder.expires_on == LicenseVersion.expires_on)
        & (Reminder.kind == KIND)
    )


def due_reminders(columns, today):
    """Reminder rows, not sent, whose license is still due on `today` for that same expiration date."""
    query = Reminder.select(*columns).join(License, on=(Reminder.license == License.id))
    return due_license_join(query, today, window_on=Reminder.expires_on).where(
        (LicenseVersion.expires_on == Reminder.expires_on)
        & (Reminder.kind == KIND)
        & (Reminder.status != Reminder.SENT)
    )


def claimable(now):
    """SQL: not used up, and free or held by a run whose lease ran out."""
    return (
        (Reminder.status != Reminder.SENT)
        & (Reminder.attempts < max_attempts())
        & (Reminder.claim_token.is_null() | (Reminder.claimed_at < now - claim_lease()))
    )


def is_claimable(row, now):
    if row.attempts >= max_attempts():
        return False
    return row.claim_token is None or row.claimed_at < now - claim_lease()


DETAIL_COLUMNS = (
    License.id.alias("license_id"),
    Account.id.alias("account_id"),
    Account.name.alias("account_name"),
    Account.billing_day.alias("billing_day"),
    Product.name.alias("product"),
    License.plan.alias("plan"),
    LicenseVersion.seats.alias("seats"),
    LicenseVersion.expires_on.alias("expires_on"),
    LicenseVersion.contact_name.alias("contact_name"),
    LicenseVersion.contact_email.alias("contact_email"),
)


def account_seats():
    """SQL, per row: the seats of every current license (not removed) of the row's account."""
    other, other_version = License.alias(), LicenseVersion.alias()
    return (
        other_version.select(fn.SUM(other_version.seats))
        .join(other, on=((other_version.license == other.id) & (other.current == other_version.id)))
        .where((other.account == License.account) & other.retired_at.is_null())
    )


def as_due(row, reminder_id, recipient_on_file="", byol_users=0):
    return DueReminder(
        reminder_id=reminder_id,
        license_id=row.license_id,
        account_id=row.account_id,
        account_name=row.account_name,
        billing_day=row.billing_day,
        product=row.product,
        plan=row.plan,
        seats=row.seats,
        expires_on=row.expires_on,
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        recipient_on_file=recipient_on_file,
        byol_users=int(byol_users or row.seats),
    )


def preview(today):
    """Each reminder due on `today` as (DueReminder, whether a run would attempt it); writes nothing."""
    now = clock.now()  # the run's clock, so a dry run sees the claims a run would
    after = (today - timedelta(days=1), 0)
    while True:
        # A fresh query per batch: Peewee caches a query's results.
        query = due_license_join(
            License.select(
                *DETAIL_COLUMNS, Reminder.status.alias("status"), Reminder.attempts.alias("attempts"),
                Reminder.claim_token.alias("claim_token"), Reminder.claimed_at.alias("claimed_at"),
            ),
            today,
        ).join_from(License, Product, on=(License.product == Product.id))
        query = (
            query.join_from(License, Reminder, JOIN.LEFT_OUTER, on=reminder_for_version())
            .where(
                Reminder.id.is_null() | (Reminder.status != Reminder.SENT),
                Tuple(LicenseVersion.expires_on, License.id) > Tuple(*after),
            )
            .order_by(LicenseVersion.expires_on, License.id)
            .limit(batch_size())
            .namedtuples()
        )
        rows = list(query)
        if not rows:
            return
        after = (rows[-1].expires_on, rows[-1].license_id)
        for row in rows:
            yield as_due(row, None), row.status is None or is_claimable(row, now)


def failed_count():
    """How many reminders were given up on (of plans not removed): each needs staff to tell the customer another way."""
    return (
        Reminder.select()
        .join(License, on=(Reminder.license == License.id))
        .where((Reminder.status == Reminder.FAILED) & License.retired_at.is_null())
        .count()
    )


def outstanding_reminders(account, today):
    """The account's reminders that were not sent, each with a note for staff on where it stands."""
    rows = (
        Reminder.select(
            Reminder, License.plan.alias("plan"), License.retired_at.alias("retired_at"),
            LicenseVersion.expires_on.alias("current_expires_on"),
        )
        .join(License, on=(Reminder.license == License.id))
        .join(LicenseVersion, JOIN.LEFT_OUTER, on=(License.current == LicenseVersion.id))
        .where((License.account == account.id) & (Reminder.status != Reminder.SENT))
        .order_by(Reminder.expires_on.desc(), Reminder.id.desc())
        .objects()
    )
    return [
        (row, reminder_state(row, row.current_expires_on, account, today, retired=row.retired_at is not None))
        for row in rows
    ]


def reminder_state(reminder, current_expires_on, account, today, retired=False):
    """Where an unsent reminder stands, in words for staff."""
    limit = max_attempts()
    if retired:
        return "no longer needed: the customer removed the plan"
    if current_expires_on != reminder.expires_on:
        return "no longer needed: the license was updated with a new date"
    if reminder.attempts >= limit:
        return f"gave up after {reminder.attempts} attempts"
    if today > reminder.expires_on:
        return "never delivered: the license has expired"
    if not account.is_active or not account.byol_enrolled:
        return "on hold while the account is suspended or not enrolled in BYOL"
    if reminder.attempts == 0:
        return "queued for the next run"
    return f"will be retried on the next run (attempt {reminder.attempts + 1} of {limit})"

