"""Which reminders are due: the schedule's windows, the due joins, the claimable test, the dry-run preview
and staff's view.

Queries only; the run (`_run.py`) arms, claims and records with them.
"""
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from peewee import JOIN, Tuple, fn

from ..accounts.models import Account, User
from ..core import clock
from ..licenses.models import License, LicenseVersion, Product
from ..licenses.rules import lapse_notice_due, lapse_notice_window, reminder_step, step_windows
from .models import Reminder

# The kind of the article's single reminder, the default schedule's only step.
KIND = Reminder.EXPIRY_30_DAYS


@dataclass(frozen=True)
class DueReminder:
    """One message to send: the license's current terms and its account, as the email needs them."""

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
    kind: str = KIND
    # 0: the contact on the form; otherwise the authorized user the step escalates to.
    audience: int = Reminder.CONTACT
    user_email: str = ""
    user_name: str = ""
    # The account's BYOL status as of the run (licenses.rules.ByolStatus), filled in per batch.
    position: object = None

    @property
    def recipient_email(self):
        return self.user_email if self.audience != Reminder.CONTACT else self.contact_email

    @property
    def recipient_name(self):
        return self.user_name if self.audience != Reminder.CONTACT else self.contact_name

    @property
    def step(self):
        """Days before expiration of this step; None for the lapse notice."""
        return Reminder.step_of(self.kind)


def schedule():
    """The configured steps, largest first (REMINDER_DAYS)."""
    return tuple(current_app.config["REMINDER_STEPS"])


def escalate_days():
    """REMINDER_ESCALATE_DAYS, or None when escalation is off."""
    return current_app.config.get("REMINDER_ESCALATE_DAYS")


def escalates(kind):
    """Whether this kind also goes to every active authorized user: the lapse notice always, a step when
    its days are at most REMINDER_ESCALATE_DAYS."""
    if kind == Reminder.LAPSE_NOTICE:
        return True
    limit = escalate_days()
    return limit is not None and Reminder.step_of(kind) <= limit


def kind_windows(today):
    """[(kind, first, last)]: the expiration dates for which each kind is the one due on `today`."""
    windows = [(Reminder.step_kind(step), first, last) for step, first, last in step_windows(today, schedule())]
    lapse = lapse_notice_window(today)
    if lapse:
        windows.insert(0, (Reminder.LAPSE_NOTICE, *lapse))
    return windows


def kind_due(expires_on, today):
    """The kind due on `today` for a license expiring on `expires_on`, or None."""
    if lapse_notice_due(expires_on, today):
        return Reminder.LAPSE_NOTICE
    step = reminder_step(expires_on, today, schedule())
    return Reminder.step_kind(step) if step is not None else None


def due_bounds(today):
    """The (first, last) expiration dates of every window, so a query can use its expires_on index."""
    windows = kind_windows(today)
    return windows[0][1], windows[-1][2]


def due_kind(kind_column, expires_column, today):
    """SQL: the row's kind is the one due on `today` for its expiration date."""
    first, last = due_bounds(today)
    condition = None
    for kind, low, high in kind_windows(today):
        term = (kind_column == kind) & expires_column.between(low, high)
        condition = term if condition is None else (condition | term)
    return expires_column.between(first, last) & condition


def claim_lease():
    return timedelta(seconds=float(current_app.config["REMINDER_CLAIM_LEASE"]))


def max_attempts():
    return int(current_app.config["REMINDER_MAX_ATTEMPTS"])


def batch_size():
    return max(1, int(current_app.config["REMINDER_BATCH_SIZE"]))


def due_license_join(query):
    """Limit a query over License to current versions on active BYOL accounts; a license the customer
    removed gets no reminder. The caller applies the date window."""
    return (
        query.join(LicenseVersion, on=(
            (LicenseVersion.license == License.id) & (License.current == LicenseVersion.id)
        ))
        .join_from(License, Account, on=(License.account == Account.id))
        .where(
            License.retired_at.is_null(),
            Account.status == Account.ACTIVE,
            Account.byol_enrolled == True,  # noqa: E712
        )
    )


def escalation_users(other_than_contact=True):
    """SQL: the users a step escalates to: active authorized customer users of the license's account,
    other than the contact on the form (who gets the contact's message: one message per person)."""
    condition = (
        (User.account == License.account)
        & (User.is_authorized == True)  # noqa: E712
        & (User.is_admin == False)  # noqa: E712
        & User.deactivated_at.is_null()
    )
    if other_than_contact:
        condition &= fn.LOWER(User.email) != fn.LOWER(LicenseVersion.contact_email)
    return condition


def _same_step_sent(audience_condition, address):
    """SQL: a message of the same license, date and kind went out to `address` (or not to it: ~)."""
    other = Reminder.alias()
    return fn.EXISTS(other.select(other.id).where(
        (other.license == Reminder.license) & (other.expires_on == Reminder.expires_on)
        & (other.kind == Reminder.kind) & (other.status == Reminder.SENT) & audience_condition(other)
        & address(other)
    ))


def due_reminders(columns, today):
    """Reminder rows, not sent, whose license is still due on `today` for that same expiration date and
    kind, and whose person is still one to send to."""
    escalated = [kind for kind, _, _ in kind_windows(today) if escalates(kind)]
    query = (
        Reminder.select(*columns).join(License, on=(Reminder.license == License.id))
        .join_from(Reminder, User, JOIN.LEFT_OUTER, on=(
            (User.id == Reminder.audience) & (Reminder.audience != Reminder.CONTACT)))
    )
    # One message per person and step, whoever the contact on the form is by now: the contact's message
    # is not sent to a user who already had this step as a user, and a user's copy is not sent while the
    # user is the contact, unless the contact's message already went to someone else.
    contact_due = (Reminder.audience == Reminder.CONTACT) & ~_same_step_sent(
        lambda other: other.audience != Reminder.CONTACT,
        lambda other: fn.LOWER(other.recipient) == fn.LOWER(LicenseVersion.contact_email))
    user_due = (
        (Reminder.audience != Reminder.CONTACT) & Reminder.kind.in_(escalated or [""]) & User.id.is_null(False)
        & escalation_users(other_than_contact=False)
        & ((fn.LOWER(User.email) != fn.LOWER(LicenseVersion.contact_email)) | _same_step_sent(
            lambda other: other.audience == Reminder.CONTACT,
            lambda other: fn.LOWER(other.recipient) != fn.LOWER(User.email)))
    )
    return due_license_join(query).where(
        due_kind(Reminder.kind, Reminder.expires_on, today)
        & (LicenseVersion.expires_on == Reminder.expires_on)
        & (Reminder.status != Reminder.SENT)
        & (contact_due | user_due)
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


USER_COLUMNS = (User.email.alias("user_email"), User.name.alias("user_name"))


def as_due(row, reminder_id, recipient_on_file="", byol_users=0, kind=KIND, audience=Reminder.CONTACT,
           user_email="", user_name=""):
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
        kind=kind,
        audience=audience,
        user_email=user_email or "",
        user_name=user_name or "",
    )


def preview(today):
    """Each message due on `today` as (DueReminder, whether a run would attempt it); writes nothing."""
    now = clock.now()  # the run's clock, so a dry run sees the claims a run would
    first, last = due_bounds(today)
    after = (first - timedelta(days=1), 0)
    while True:
        # A fresh query per batch: Peewee caches a query's results.
        rows = list(
            due_license_join(License.select(*DETAIL_COLUMNS))
            .join_from(License, Product, on=(License.product == Product.id))
            .where(
                LicenseVersion.expires_on.between(first, last),
                Tuple(LicenseVersion.expires_on, License.id) > Tuple(*after),
            )
            .order_by(LicenseVersion.expires_on, License.id)
            .limit(batch_size())
            .namedtuples()
        )
        if not rows:
            return
        after = (rows[-1].expires_on, rows[-1].license_id)
        kinds = {row.license_id: kind_due(row.expires_on, today) for row in rows}
        rows = [row for row in rows if kinds[row.license_id]]
        ids = [row.license_id for row in rows]
        on_file = {
            (r.license_id, r.expires_on, r.kind, r.audience): r
            for r in Reminder.select(
                Reminder.license.alias("license_id"), Reminder.expires_on, Reminder.kind, Reminder.audience,
                Reminder.status, Reminder.attempts, Reminder.claim_token, Reminder.claimed_at,
            ).where(Reminder.license.in_(ids or [0])).namedtuples()
        }
        users = {}
        if any(escalates(kind) for kind in kinds.values() if kind):
            for user in (
                User.select(User.id, User.email, User.name, User.account.alias("account_id"))
                .where(User.account.in_(sorted({row.account_id for row in rows}) or [0]),
                       User.is_authorized == True, User.is_admin == False,  # noqa: E712
                       User.deactivated_at.is_null())
                .order_by(User.id).namedtuples()
            ):
                users.setdefault(user.account_id, []).append(user)
        for row in rows:
            kind = kinds[row.license_id]
            audiences = [(Reminder.CONTACT, "", "")]
            if escalates(kind):
                audiences += [(u.id, u.email, u.name) for u in users.get(row.account_id, [])
                              if u.email.lower() != row.contact_email.lower()]
            for audience, email, name in audiences:
                reminder = on_file.get((row.license_id, row.expires_on, kind, audience))
                if reminder is not None and reminder.status == Reminder.SENT:
                    continue
                yield (as_due(row, None, kind=kind, audience=audience, user_email=email, user_name=name),
                       reminder is None or is_claimable(reminder, now))


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
    for row in rows:
        row.step = step_label(row.kind)
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
    due_now = kind_due(reminder.expires_on, today)
    if reminder.kind != Reminder.LAPSE_NOTICE and today > reminder.expires_on:
        return "never delivered: the license has expired"
    if reminder.kind == Reminder.LAPSE_NOTICE and due_now != Reminder.LAPSE_NOTICE:
        return "never delivered: the lapse is too old for a notice"
    if due_now != reminder.kind and due_now is not None:
        return f"replaced by the {step_label(due_now)}"
    if not account.is_active or not account.byol_enrolled:
        return "on hold while the account is suspended or not enrolled in BYOL"
    if reminder.attempts == 0:
        return "queued for the next run"
    return f"will be retried on the next run (attempt {reminder.attempts + 1} of {limit})"


def step_label(kind):
    """A kind in words: "30-day reminder", "lapse notice"."""
    step = Reminder.step_of(kind)
    if step is None:
        return "lapse notice"
    return f"{step}-day reminder"
