"""The admin dashboard's 12-month expiry timeline: the buckets, the SVG and its table."""
from datetime import date, datetime

from bs4 import BeautifulSoup
from conftest import count_queries
from helpers import insert_license, renew_license

from webapp.accounts.models import Account
from webapp.licenses.timeline import chart, monthly_expiries

TODAY = date(2026, 12, 6)


def test_twelve_months_from_this_one_split_by_status():
    months = monthly_expiries([
        (date(2026, 11, 30), "active", 1, 10),   # expired last month: not shown
        (date(2026, 12, 1), "active", 8, 80),    # earlier this month: already expired, not "expiring"
        (date(2026, 12, 6), "active", 2, 20),    # today: valid through its date, still this month's
        (date(2026, 12, 31), "suspended", 1, 5),
        (date(2027, 2, 28), "active", 3, 30),
        (date(2027, 11, 30), "suspended", 4, 40),  # the 12th month's last day
        (date(2027, 12, 1), "active", 9, 90),    # the 13th month: not shown
    ], TODAY)
    assert [m.label for m in months] == ["Dec 2026", "Jan 2027", "Feb 2027", "Mar 2027", "Apr 2027", "May 2027",
                                         "Jun 2027", "Jul 2027", "Aug 2027", "Sep 2027", "Oct 2027", "Nov 2027"]
    assert (months[0].plans, months[0].seats) == ({"active": 2, "suspended": 1}, {"active": 20, "suspended": 5})
    assert months[2].plans == {"active": 3, "suspended": 0} and months[2].total_seats == 30
    assert months[11].plans == {"active": 0, "suspended": 4}
    assert sum(m.total_plans for m in months) == 10


def test_the_chart_stacks_suspended_on_active_scaled_to_the_busiest_month():
    months = monthly_expiries([(date(2027, 1, 5), "active", 3, 30), (date(2027, 1, 9), "suspended", 1, 4),
                               (date(2027, 3, 1), "active", 2, 2)], TODAY)
    columns = chart(months).columns
    january, march = columns[1], columns[3]
    active, suspended = january.bars
    assert (active.status, suspended.status) == ("active", "suspended")
    assert active.height == 3 * suspended.height and suspended.y + suspended.height == active.y
    assert march.bars[0].height * 2 == january.bars[0].height * 4 / 3
    assert columns[0].bars == ()
    assert chart(monthly_expiries([], TODAY)).columns[5].bars == ()  # nothing anywhere: no division by zero


def test_the_dashboard_shows_the_timeline_as_svg_and_as_a_table(app, client, admin, login, make_account, today):
    active, suspended = make_account("Alpine Ski House"), make_account("Fourth Coffee", status=Account.SUSPENDED)
    next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    insert_license(active, expires_on=next_month, seats=25)
    insert_license(active, plan="Office 365 E1", expires_on=next_month.replace(day=20), seats=5)
    insert_license(suspended, expires_on=next_month, seats=7)
    renewed = insert_license(suspended, plan="Office 365 E5", expires_on=next_month, seats=3)
    renew_license(renewed, date(2099, 1, 1), submitted_at=datetime.utcnow(), seats=30)  # its current version no longer expires soon
    login(client, admin.email)

    page = BeautifulSoup(client.get("/admin/").get_data(as_text=True), "html.parser")
    section = page.find(id="expiry-timeline")
    svg = section.find("svg")
    assert svg["aria-hidden"] == "true" and section.find("script") is None
    label = f"{next_month:%b %Y}"
    group = svg.find("g", attrs={"data-month": f"{next_month:%Y-%m}"})
    assert [rect["fill"] for rect in group.find_all("rect")] == ["#1d4f91", "url(#hatch-suspended)"]
    words = [t.get_text() for t in group.find_all("text")]
    # Each number once: above the bar the plans in all, below it the month; the rest is in the table.
    assert words == ["3", f"{next_month:%b}"]
    assert "hatched: suspended accounts" in section.get_text() and svg.find("pattern", id="hatch-suspended")
    table = section.find("table")
    assert table.find("caption").get_text() == "Licenses expiring in the next 12 months, by account status"
    rows = {tr.find("th").get_text(): [td.get_text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")}
    assert len(rows) == 12 and rows[label] == ["2", "30", "1", "7"]


def test_the_timeline_is_one_query_whatever_the_number_of_licenses(app, client, admin, login, make_account, today):
    login(client, admin.email)
    account = make_account("Alpine Ski House")
    insert_license(account)
    with count_queries() as few:
        client.get("/admin/")
    for n in range(30):
        insert_license(account, plan=f"Plan {n}", expires_on=date(today.year + 1, today.month, 1))
    with count_queries() as many:
        client.get("/admin/")
    assert len(few) == len(many)


def test_a_renewal_moves_its_plan_and_its_seats(app, client, admin, login, make_account, today):
    """The timeline reads the license's copy of its current date and seats: a renewal must move both."""
    account = make_account("Alpine Ski House")
    next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    month_after = date(next_month.year + next_month.month // 12, next_month.month % 12 + 1, 1)
    license = insert_license(account, expires_on=next_month, seats=10)
    renew_license(license, month_after.replace(day=15), submitted_at=datetime.utcnow(), seats=12)
    login(client, admin.email)

    table = BeautifulSoup(client.get("/admin/").get_data(as_text=True), "html.parser").find(id="expiry-timeline")
    rows = {tr.find("th").get_text(): [td.get_text() for td in tr.find_all("td")]
            for tr in table.find("tbody").find_all("tr")}
    assert rows[f"{next_month:%b %Y}"] == ["0", "0", "0", "0"]
    assert rows[f"{month_after:%b %Y}"] == ["1", "12", "0", "0"]
