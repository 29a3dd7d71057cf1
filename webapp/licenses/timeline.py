"""The admin dashboard's 12-month expiry timeline: plans and seats expiring each month, by account status.

`monthly_expiries` is the rule (pure); `chart` lays it out as SVG geometry for the template, which
draws it with patterns and labels so it reads without colour. `expiries_from_database` is the one
aggregated query.
"""
import calendar
from dataclasses import dataclass
from datetime import date

from peewee import SQL, fn

from ..accounts.models import Account
from .models import License

STATUSES = ("active", "suspended")
MONTHS = 12


@dataclass(frozen=True)
class MonthExpiries:
    """One month of the timeline: {status: plans} and {status: seats}."""

    year: int
    month: int
    plans: dict
    seats: dict

    @property
    def label(self):
        return f"{calendar.month_abbr[self.month]} {self.year}"

    @property
    def total_plans(self):
        return sum(self.plans.values())

    @property
    def total_seats(self):
        return sum(self.seats.values())


def _month_index(day):
    return day.year * 12 + day.month - 1


def timeline_range(today):
    """(first day, last day) of what is shown: from today (a plan that expired earlier this month is not
    "expiring") to the end of the 11th month after this one."""
    last = _month_index(today) + MONTHS - 1
    year, month = divmod(last, 12)
    return today, date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def monthly_expiries(expiries, today):
    """Bucket (expires_on, account status, plans, seats) rows into this month and the next 11; a plan that
    already expired (before today) is left out."""
    first = _month_index(today)
    months = []
    for index in range(first, first + MONTHS):
        year, month = divmod(index, 12)
        months.append(MonthExpiries(year, month + 1, dict.fromkeys(STATUSES, 0), dict.fromkeys(STATUSES, 0)))
    for expires_on, status, plans, seats in expiries:
        offset = _month_index(expires_on) - first
        if expires_on >= today and 0 <= offset < MONTHS and status in STATUSES:
            months[offset].plans[status] += plans
            months[offset].seats[status] += seats
    return months


def expiries_from_database(today):
    """Current versions expiring in the 12 months, summed per day and account status: one query.

    It reads the licenses' own copy of their current version's date and seats (License.expires_on and
    .seats) from an index that holds them, so the database reads only the plans in the timeline's months
    and never the versions. A plan the customer removed no longer expires for anyone.
    """
    first, last = timeline_range(today)
    query = (
        License.select(License.expires_on, Account.status, fn.COUNT(SQL("*")), fn.SUM(License.seats))
        .join(Account, on=(License.account == Account.id))
        .where(License.expires_on.between(first, last) & License.retired_at.is_null())
        .group_by(License.expires_on, Account.status)
        .tuples()
    )
    return [(expires_on, status, int(plans), int(seats or 0)) for expires_on, status, plans, seats in query]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status: str
    plans: int


@dataclass(frozen=True)
class Column:
    month: MonthExpiries
    x: float  # centre
    bars: tuple
    top: float


WIDTH, HEIGHT = 760, 150
PLOT_TOP, PLOT_BOTTOM, PLOT_LEFT = 24, 118, 0
COLUMN_WIDTH = (WIDTH - PLOT_LEFT) / MONTHS
BAR_WIDTH = COLUMN_WIDTH * 0.6


@dataclass(frozen=True)
class Chart:
    columns: tuple
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_bottom: int = PLOT_BOTTOM


def chart(months):
    """SVG geometry: per month, a stack of bars (active below, suspended above) scaled to the busiest month."""
    tallest = max((m.total_plans for m in months), default=0) or 1
    scale = (PLOT_BOTTOM - PLOT_TOP) / tallest
    columns = []
    for i, month in enumerate(months):
        centre = PLOT_LEFT + COLUMN_WIDTH * (i + 0.5)
        y, bars = PLOT_BOTTOM, []
        for status in STATUSES:
            plans = month.plans[status]
            if plans:
                height = plans * scale
                y -= height
                bars.append(Bar(round(centre - BAR_WIDTH / 2, 1), round(y, 1), round(BAR_WIDTH, 1),
                                round(height, 1), status, plans))
        columns.append(Column(month, round(centre, 1), tuple(bars), round(y, 1)))
    return Chart(tuple(columns))
