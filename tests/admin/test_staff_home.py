"""The staff home leads with what needs doing: proofs awaiting review (and the oldest's age), lapsed BYOL
accounts (billed by subscription from their next cycle), failed reminders and the last cron run, each a
link to the list it counts; the Proof to review tab carries the count."""
from datetime import datetime, timedelta

from helpers import insert_license, page_of, send

from webapp.extensions import db
from webapp.licenses.models import LicenseVersion
from webapp.reminders.models import Reminder


def work_item(page, item_id):
    item = page.find(id=item_id)
    return " ".join(item.get_text(" ").split()), item.find("a")["href"]


def test_the_home_counts_what_needs_doing_and_links_to_each_list(staff, make_account, today):
    northwind, fabrikam, contoso = make_account("Northwind Traders"), make_account("Fabrikam"), make_account("Contoso")
    waiting = insert_license(northwind, expires_on=today + timedelta(days=200))
    with db.database.connection_context():
        LicenseVersion.update(submitted_at=datetime.utcnow() - timedelta(days=3, hours=2)).where(
            LicenseVersion.id == waiting.current_id).execute()
    insert_license(fabrikam, expires_on=today - timedelta(days=1))  # lapsed: expired yesterday
    failing = insert_license(contoso, expires_on=today + timedelta(days=10))
    with db.database.connection_context():
        Reminder.create(license=failing.id, expires_on=failing.expires_on, status=Reminder.FAILED, attempts=5)

    page = page_of(staff.get("/admin/"))

    text, link = work_item(page, "work-reviews")
    # Three proofs wait in all (each license's first version); the oldest, Northwind's, for 3 days.
    assert text.startswith("3 proofs awaiting review oldest waiting 3 days") and link == "/admin/reviews"
    assert "3 waiting" in " ".join(page.find("nav", class_="tabs").get_text(" ").split())
    text, link = work_item(page, "work-subscription")
    assert text.startswith("1 BYOL account lapsed") and link == "/admin/?filter=lapsed"
    text, link = work_item(page, "work-reminders")
    assert text.startswith("1 reminder failed") and link == "/admin/?filter=reminder-failed"
    listed = [a.get_text() for a in page_of(staff.get(link)).select("#accounts tbody a")]
    assert listed == ["Contoso"]
    text, link = work_item(page, "work-cron")
    assert "never" in text and link == "/admin/audit?kind=reminders.run"


def test_the_last_cron_run_is_on_the_home(staff, runner, today):
    send(runner, today)
    text, _ = work_item(page_of(staff.get("/admin/")), "work-cron")
    assert text.endswith("finished, 0 sent, 0 failed") and "UTC" in text


def test_an_empty_queue_says_so_and_the_tab_has_no_count(staff):
    page = page_of(staff.get("/admin/"))
    assert work_item(page, "work-reviews")[0] == "0 proofs awaiting review the queue is empty"
    assert page.find("nav", class_="tabs").find(class_="count-badge") is None
