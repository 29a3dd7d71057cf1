"""The billing report: the page, its CSV and the CLI give the same rows, from what was on file at each cycle's start."""
import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import count_queries
from helpers import FAR, insert_license, reject, renew_license

from webapp.billing.rules import format_cycle, next_cycle
from webapp.extensions import db


def page_rows(response):
    """The billing table as lists of cell texts."""
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [[" ".join(td.get_text(" ").split()) for td in tr.find_all("td")]
            for tr in page.find(id="billing").find("tbody").find_all("tr") if tr.get("data-account-id")]


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_shows_every_account_with_its_mode_and_reason(staff, accounts, today):
    response = staff.get("/admin/billing")
    assert response.status_code == 200
    rows = {row[0]: row for row in page_rows(response)}
    year, month = next_cycle(today)
    assert f"Billing for the {date(year, month, 1):%B %Y} cycle" in response.text
    assert rows["Alpine Ski House"][2:5] == ["BYOL (can still change)", "every license current", "30"]
    assert rows["Bellows College"][2:4] == ["Subscription (can still change)", "expired: Office 365 E3"]
    assert rows["Bellows College"][1].startswith(("28 ", "29 ", "30 ", "31 "))
    assert rows["Contoso Pharma"][2:4] == ["Subscription (can still change)", "proof rejected: Office 365 E3"]
    assert rows["Datum Corporation"][3] == "no license on file"
    assert rows['=HYPERLINK("http://evil.example")'][3] == "not enrolled in BYOL"
    assert rows["-Fourth Coffee"][2:] == ["BYOL (can still change)", "every license current", "7", "31 Dec 2099",
                                         "suspended", "—"]


def test_filter_by_mode_and_search(staff, accounts):
    byol = page_rows(staff.get("/admin/billing?mode=BYOL"))
    assert sorted(row[0] for row in byol) == ["-Fourth Coffee", "Alpine Ski House"]
    subscription = page_rows(staff.get("/admin/billing?mode=Subscription&q=college"))
    assert [row[0] for row in subscription] == ["Bellows College"]
    assert page_rows(staff.get("/admin/billing?mode=BYOL&q=college")) == []


def test_pages_step_through_every_account_once(staff, accounts, monkeypatch):
    from webapp.admin import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    seen, page = [], 1
    while True:
        response = staff.get(f"/admin/billing?page={page}")
        seen += [row[0] for row in page_rows(response)]
        if "Next →" not in response.text:
            break
        page += 1
    assert page == 3 and len(seen) == 6 == len(set(seen))
    filtered = page_rows(staff.get("/admin/billing?mode=Subscription&page=2"))
    assert len(filtered) == 2


def test_the_page_runs_the_same_queries_for_3_accounts_as_for_40(staff, make_account):
    def queries_for_page():
        with count_queries() as queries:
            assert staff.get("/admin/billing").status_code == 200
        with count_queries() as filtered:
            assert staff.get("/admin/billing?mode=BYOL&q=co").status_code == 200
        return len(queries), len(filtered)

    for n in range(3):
        insert_license(make_account(f"Small {n}"))
    few = queries_for_page()
    for n in range(40):
        account = make_account(f"Co {n:02d}")
        insert_license(account)
        insert_license(account, plan="Office 365 E1")
    many = queries_for_page()
    assert few == many
    assert few[0] <= 8, few


@pytest.mark.parametrize("query", [
    "cycle=2027-13", "cycle=garbage", "cycle=%00", "mode=Free", "mode=byol", "q=" + "x" * 201,
])
def test_hostile_filters_get_400_never_500(staff, accounts, query):
    response = staff.get(f"/admin/billing?{query}")
    assert response.status_code == 400
    assert staff.get(f"/admin/billing.csv?{query}").status_code == 400


@pytest.mark.parametrize("page", ["-5", "0", "abc", "99999999999999999999", "1e3"])
def test_any_page_number_gives_a_page(staff, accounts, page):
    assert staff.get(f"/admin/billing?page={page}").status_code == 200


def test_the_csv_neutralises_formulas_and_matches_the_page(staff, accounts):
    response = staff.get("/admin/billing.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=billing-")
    rows = csv_rows(response.get_data(as_text=True))
    names = [row["account"] for row in rows]
    assert "'=HYPERLINK(\"http://evil.example\")" in names and "'-Fourth Coffee" in names
    assert not any(name.startswith(("=", "+", "-", "@")) for row in rows for name in row.values())
    page = page_rows(staff.get("/admin/billing"))
    assert [row["account"].removeprefix("'") for row in rows] == [row[0] for row in page]
    assert [row["mode"] for row in rows] == [row[2].split(" (")[0] for row in page]


def test_a_started_cycle_keeps_its_answer_after_late_proof_and_a_later_rejection(staff, runner, make_account, today):
    this_month = today.replace(day=1)
    start_instant = datetime.combine(this_month, datetime.min.time())
    lapsed = make_account("Late Proof Ltd")
    license = insert_license(lapsed, expires_on=this_month - timedelta(days=1), submitted_at=datetime(2020, 1, 1))
    renew_license(license, FAR, submitted_at=start_instant + timedelta(minutes=5), seats=30)
    rejected_later = make_account("Rejected Later Ltd")
    reject(insert_license(rejected_later, submitted_at=datetime(2020, 1, 1)), start_instant + timedelta(hours=1))

    cycle = format_cycle(this_month.year, this_month.month)
    rows = {row["account"]: row for row in json.loads(
        runner.invoke(args=["billing-report", "--cycle", cycle, "--format", "json"]).output)["accounts"]}
    assert rows["Late Proof Ltd"]["mode"] == "Subscription"
    assert rows["Late Proof Ltd"]["reason"] == "expired: Office 365 E3"
    assert rows["Rejected Later Ltd"]["mode"] == "BYOL" and rows["Rejected Later Ltd"]["can_still_change"] is False

    year, month = next_cycle(today)
    upcoming = {row["account"]: row for row in json.loads(
        runner.invoke(args=["billing-report", "--format", "json"]).output)["accounts"]}
    assert upcoming["Late Proof Ltd"]["mode"] == "BYOL" and upcoming["Late Proof Ltd"]["cycle"] == format_cycle(year, month)
    assert upcoming["Rejected Later Ltd"]["mode"] == "Subscription"


def test_an_enrollment_switch_after_the_start_leaves_the_started_cycle(staff, make_account, today):
    account = make_account("Switched Ltd")
    insert_license(account, submitted_at=datetime(2020, 1, 1))
    staff.post(f"/admin/accounts/{account.id}/enrollment", data={"enrollment": "subscription"})
    this_month = format_cycle(today.year, today.month)
    (started,) = page_rows(staff.get(f"/admin/billing?cycle={this_month}"))
    (upcoming,) = page_rows(staff.get("/admin/billing"))
    assert started[2:4] == ["BYOL", "every license current"]
    assert upcoming[2:4] == ["Subscription (can still change)", "not enrolled in BYOL"]


def test_cli_csv_and_json_give_the_page_rows(staff, runner, accounts, today):
    csv_out = runner.invoke(args=["billing-report", "--format", "csv"])
    json_out = runner.invoke(args=["billing-report", "--format", "json", "--cycle", format_cycle(*next_cycle(today))])
    assert csv_out.exit_code == 0 and json_out.exit_code == 0, (csv_out.output, json_out.output)
    from_csv = csv_rows(csv_out.output)
    from_json = json.loads(json_out.output)["accounts"]
    from_page = page_rows(staff.get("/admin/billing"))
    assert from_csv == csv_rows(staff.get("/admin/billing.csv").get_data(as_text=True))
    assert [r["account"] for r in from_json] == [r[0] for r in from_page]
    for line, row in zip(from_csv, from_json):
        assert (line["account_id"], line["mode"], line["reason"], line["byol_seats"], line["cycle_start"]) == (
            str(row["account_id"]), row["mode"], row["reason"], str(row["byol_seats"]), row["cycle_start"])


@pytest.mark.parametrize("cycle", ["2027-13", "Jan", "=1+1", ""])
def test_cli_refuses_a_cycle_that_is_not_a_month(runner, cycle):
    result = runner.invoke(args=["billing-report", "--cycle", cycle])
    assert result.exit_code == 2 and "YYYY-MM" in result.output


def test_the_report_runs_four_statements_for_one_account_or_forty(app, make_account, today):
    from webapp.billing.report import billing_report

    def statements(**filters):
        with db.database.connection_context(), count_queries() as queries:
            report = billing_report(*next_cycle(today), today, "UTC", **filters)
        return len(queries), len(report.rows)

    for n in range(40):
        account = make_account(f"Co {n:02d}")
        insert_license(account)
        insert_license(account, plan="Office 365 E1")
        if n % 3 == 0:
            reject(insert_license(account, plan="Office 365 F3"), datetime.utcnow())
    # The fourth: the latest Microsoft 365 snapshots, for the `verified` column.
    assert statements() == (4, 40)
    assert statements(search="Co 07") == (4, 1)
    assert statements(mode="Subscription", page=2, per_page=5) == (4, 5)
