"""What the staff digest says, and its email."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app

from .. import reminders
from ..accounts.models import Account
from ..billing.report import billing_report
from ..billing.rules import SUBSCRIPTION
from ..core.filters import day
from ..core.mail import build_email
from ..licenses.rules import next_cycle_start
from ..review.store import removals_awaiting, review_queue

DIGEST_DAYS = 7


@dataclass(frozen=True)
class SubscriptionAccount:
    """An enrolled account whose next billing cycle is billed by subscription, and why."""

    name: str
    cycle_start: date
    reason: str


@dataclass(frozen=True)
class StaffDigest:
    """Everything the digest lists, as of `today` (business date) and `now` (naive UTC)."""

    today: date
    now: datetime
    awaiting_review: int
    oldest_waiting_days: int | None
    subscription_accounts: tuple
    not_enrolled: int
    failed_reminders: tuple
    # Plans whose removal awaits staff confirmation (review.store.AwaitingRemoval), oldest request first.
    removals: tuple
    last_run_finished: datetime | None
    run_stale_hours: float
    runs_stale: bool

    @property
    def has_news(self):
        """Whether anything needs staff: a digest without news still goes out, saying so."""
        return bool(self.awaiting_review or self.subscription_accounts or self.failed_reminders or self.runs_stale
                    or self.removals)


def _subscription_accounts(today, timezone_name):
    """(enrolled accounts billed by subscription on their next cycle, how many accounts are not enrolled)."""
    next_starts = {
        account.id: next_cycle_start(today, account.billing_day)
        for account in Account.select(Account.id, Account.billing_day)
    }
    months = sorted({(start.year, start.month) for start in next_starts.values() if start is not None})
    found, not_enrolled = [], 0
    for year, month in months:
        for row in billing_report(year, month, today, timezone_name, mode=SUBSCRIPTION).rows:
            if row.cycle_start != next_starts.get(row.account_id):
                continue  # another account's cycle in that month; this one's next cycle is elsewhere
            if row.reason == "not enrolled in BYOL":
                not_enrolled += 1
            else:
                found.append(SubscriptionAccount(row.account, row.cycle_start, row.reason))
    found.sort(key=lambda account: (account.cycle_start, account.name))
    return tuple(found), not_enrolled


def gather(today, now):
    """The digest as of `today` and `now`: reads only."""
    config = current_app.config
    queue = review_queue()
    submitted = [version.submitted_at for version in queue if version.submitted_at is not None]
    oldest = min(submitted) if submitted else None
    accounts, not_enrolled = _subscription_accounts(today, config["BUSINESS_TIMEZONE"])
    stale_hours = float(config["REMINDER_RUN_STALE_HOURS"])
    last_finished = reminders.last_finished_at()
    return StaffDigest(
        today=today,
        now=now,
        awaiting_review=len(queue),
        oldest_waiting_days=(now - oldest).days if oldest else None,
        subscription_accounts=accounts,
        not_enrolled=not_enrolled,
        failed_reminders=tuple(reminders.failed_since(now - timedelta(days=DIGEST_DAYS))),
        removals=tuple(removals_awaiting()),
        last_run_finished=last_finished,
        run_stale_hours=stale_hours,
        runs_stale=reminders.runs_are_stale(last_finished, now, stale_hours),
    )


def digest_email(digest, to, review_url, admin_url):
    """The digest email, text and HTML, to the staff addresses."""
    subject = f"Weekly licenses digest, {day(digest.today)}: " + (
        "action needed" if digest.has_news else "nothing to report")
    message = build_email("staff_digest", to[0], subject, digest=digest, review_url=review_url, admin_url=admin_url,
                          digest_days=DIGEST_DAYS)
    message.recipients = list(to)
    return message
