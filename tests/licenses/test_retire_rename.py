"""Retiring and renaming a plan: the customer removes a plan the account no longer has,
after a confirmation; staff rename a plan to fix a typo; every destructive staff action asks first.

Route-level tests through the test client against the real database (SQLite, or PostgreSQL with
TEST_DATABASE_URL); the reminders go to a real SMTP server.
"""
from datetime import date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import PASSWORD

from config import TestConfig
from webapp import audit, create_app
from webapp.accounts.models import Account, User
from webapp.audit.models import AuditEntry
from webapp.billing.rules import (
    BYOL,
    SUBSCRIPTION,
    AccountHistory,
    Submission,
    cycle_billing,
    format_cycle,
    next_cycle,
)
from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product
from webapp.licenses.proofs import Upload, store_upload
from webapp.licenses.rules import current_cycle_start, next_cycle_start
from webapp.reminders.models import Reminder

FAR = date(2099, 12, 31)
LONG_AGO = datetime(2020, 1, 1)


def page_of(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def text_of(response):
    return " ".join(page_of(response).get_text(" ").split())


def messages_of(response):
    return " ".join(page_of(response).find(id="messages").get_text(" ").split())


def reload(model, row_id):
    with db.database.connection_context():
        return model.get_by_id(row_id)


def add_license(account, plan="Office 365 E3", expires_on=FAR, seats=25, submitted_at=LONG_AGO,
                contact_email="pat@northwind.example"):
    """A license written through the store; its version back-dated to `submitted_at`."""
    with db.database.connection_context():
        product = Product.get(Product.name == "MS Office 365")
        document = store_upload(Upload(demo_pdf(plan), "application/pdf", "proof.pdf"), account, None)
        license = license_store.add_license(
            account, None, product, plan,
            {"seats": seats, "term": "Yearly", "expires_on": expires_on, "tenant": "northwind.onmicrosoft.com",
             "contact_name": "Pat Doe", "contact_email": contact_email},
            document,
        )
        if submitted_at:
            LicenseVersion.update(submitted_at=submitted_at).where(LicenseVersion.id == license.current.id).execute()
        return License.get_by_id(license.id)


def audit_entries(kind):
    with db.database.connection_context():
        return list(AuditEntry.select().where(AuditEntry.kind == kind).order_by(AuditEntry.id))


def licenses_in_db():
    with db.database.connection_context():
        return list(License.select(License.id, License.plan, License.plan_key, License.retired_at).order_by(License.id).tuples())


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    assert login(client, admin.email).status_code == 302
    return client


@pytest.fixture
def e1(account):
    return add_license(account, plan="Office 365 E1", seats=5, expires_on=FAR)


@pytest.fixture
def e3(account):
    return add_license(account, plan="Office 365 E3", seats=25, expires_on=FAR)


def remove_path(license):
    return f"/licenses/{license.id}/remove"


# --- the customer removes a plan ---------------------------------------------------------------


def test_the_remove_button_asks_in_a_dialog_and_is_a_link_to_the_confirmation_page(logged_in, e1, e3, account, today):
    row = page_of(logged_in.get("/licenses")).find(id=f"license-{e1.id}")
    button = row.find("a", class_="remove")
    assert " ".join(button.get_text(" ").split()) == "Remove Office 365 E1"  # its name says which plan
    assert button["href"] == remove_path(e1) == button["hx-post"]
    assert (button["hx-target"], button["hx-swap"]) == ("#licenses-panel", "outerHTML")
    starts = next_cycle_start(today, account.billing_day)
    assert button["hx-confirm"].startswith("Remove Office 365 E1? It stops counting toward your BYOL status from the "
                                           f"billing cycle starting {starts.day} {starts:%b %Y}")
    assert "your only license" not in button["hx-confirm"]


def test_without_javascript_remove_opens_a_page_that_asks_and_changes_nothing(logged_in, e1, e3):
    before = licenses_in_db()
    response = logged_in.get(remove_path(e1))
    assert response.status_code == 200
    page = page_of(response)
    assert page.find("h2").get_text() == "Remove Office 365 E1?"
    form = page.find("form", action=remove_path(e1))
    assert form["method"] == "post" and form.find("input", attrs={"name": "csrf_token"}) is not None
    assert form.find("button").get_text() == "Remove Office 365 E1"
    assert page.find("a", string="Cancel, keep it")["href"] == "/licenses"
    assert "Example Hosting keeps its proof and history" in text_of(response)
    assert licenses_in_db() == before and audit_entries("license.retired") == []

    fragment = logged_in.get(remove_path(e1), headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "Remove Office 365 E1?" in text_of(fragment)


def test_removing_the_only_license_warns_that_billing_moves_to_subscription(logged_in, e3):
    assert "It is your only license" in text_of(logged_in.get(remove_path(e3)))
    button = page_of(logged_in.get("/licenses")).find("a", class_="remove")
    assert "It is your only license: without one, your users move to subscription billing" in button["hx-confirm"]


def test_removing_a_plan_takes_it_off_the_tab_and_out_of_the_byol_status(logged_in, account, user, e3, today):
    # Expiring soon, so it still keeps BYOL: its removal takes effect at once (a lapsed plan's waits for
    # staff: tests/portal/test_removal_awaiting_confirmation.py).
    expires_on = today + timedelta(days=3)
    expired = add_license(account, plan="Office 365 E1", seats=5, expires_on=expires_on)
    tab = text_of(logged_in.get("/licenses"))
    assert "Office 365 E1" in tab and f"BYOL is valid until {expires_on.day} {expires_on:%b %Y}" in tab

    response = logged_in.post(remove_path(expired))

    assert response.status_code == 302 and response.headers["Location"] == "/licenses"
    tab = logged_in.get("/licenses")
    starts = next_cycle_start(today, account.billing_day)
    assert messages_of(tab) == (
        f"Office 365 E1 was removed. It no longer counts toward your BYOL status from the billing cycle starting "
        f"{starts.day} {starts:%b %Y}; Example Hosting keeps its history."
    )
    assert page_of(tab).find(id=f"license-{expired.id}") is None
    assert page_of(tab).find(id=f"license-{e3.id}") is not None
    assert "BYOL is valid until 31 Dec 2099" in text_of(tab)
    removed = reload(License, expired.id)
    assert removed.retired_at is not None and removed.retired_by_id == user.id
    with db.database.connection_context():
        # Nothing the customer uploaded is lost: the version and its proof stay.
        assert LicenseVersion.select().where(LicenseVersion.license == expired.id).count() == 1

    (entry,) = audit_entries("license.retired")
    assert (entry.account_id, entry.actor_id, entry.actor_label, entry.subject) == (
        account.id, user.id, user.email, "Office 365 E1")
    assert audit.values(entry.before) == {
        "plan": "Office 365 E1", "seats": 5, "expires_on": expires_on.isoformat(), "retired_at": None}
    assert audit.values(entry.after) == {"retired_at": removed.retired_at.isoformat()}
    assert entry.internal is False


def test_an_htmx_remove_swaps_in_the_panel_with_the_message(logged_in, e1, e3):
    response = logged_in.post(remove_path(e1), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="licenses-panel"' in body
    assert response.headers["HX-Retarget"] == "#licenses-panel" and response.headers["HX-Reswap"] == "outerHTML"
    page = page_of(response)
    assert page.find(id=f"license-{e1.id}") is None and page.find(id=f"license-{e3.id}") is not None
    assert "Office 365 E1 was removed." in " ".join(page.find(id="messages").get_text(" ").split())


def test_removing_twice_says_it_already_was_and_records_once(logged_in, e1, e3):
    assert logged_in.post(remove_path(e1)).status_code == 302
    first = reload(License, e1.id).retired_at
    logged_in.get("/licenses")  # reads the first message

    again = logged_in.post(remove_path(e1))
    assert again.status_code == 302
    said = messages_of(logged_in.get(again.headers["Location"]))
    assert said == f"Office 365 E1 was already removed on {first.day} {first:%b %Y}; nothing changed."
    assert reload(License, e1.id).retired_at == first
    assert len(audit_entries("license.retired")) == 1

    # The same from a stale tab with htmx, and from the confirmation page's address.
    stale = logged_in.post(remove_path(e1), headers={"HX-Request": "true"})
    assert "Office 365 E1 was already removed" in text_of(stale)
    assert logged_in.get(remove_path(e1)).status_code == 302
    assert len(audit_entries("license.retired")) == 1


def test_a_removed_plan_cannot_be_updated_and_its_pages_say_it_was_removed(logged_in, e1, e3, license_form):
    logged_in.post(remove_path(e1))
    for response in (
        logged_in.get(f"/licenses/{e1.id}/update"),
        logged_in.post(f"/licenses/{e1.id}/update", data=license_form(product=None, plan=None)),
        logged_in.get(f"/licenses/{e1.id}"),
    ):
        assert response.status_code == 404
        assert "Office 365 E1 was removed" in text_of(response) and "Add License" in text_of(response)
    with db.database.connection_context():
        assert LicenseVersion.select().where(LicenseVersion.license == e1.id).count() == 1


def test_another_accounts_license_cannot_be_removed(logged_in, make_account, e3):
    other = make_account("Other Co")
    theirs = add_license(other, plan="Office 365 E1")
    before = licenses_in_db()
    for method in ("GET", "POST"):
        for license_id in (theirs.id, 999999, 2**31, 10**30):
            response = logged_in.open(f"/licenses/{license_id}/remove", method=method)
            assert response.status_code == 404, (method, license_id)
            assert "Office 365 E1" not in response.get_data(as_text=True)
    assert licenses_in_db() == before and audit_entries("license.retired") == []


def test_a_user_who_is_not_authorized_cannot_remove(app, make_user, account, login, e3):
    client = app.test_client()
    login(client, make_user("sam@northwind.example", account=account, authorized=False).email)
    for method in ("GET", "POST"):
        response = client.open(remove_path(e3), method=method)
        assert response.status_code == 403
        assert "You cannot open the Onboarding Portal" in text_of(response)
    assert reload(License, e3.id).retired_at is None and audit_entries("license.retired") == []


def test_staff_cannot_remove_through_the_portal(staff, e3):
    response = staff.post(remove_path(e3))
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert reload(License, e3.id).retired_at is None


def test_removing_without_the_csrf_token_is_refused(database_url, user, login, e3):
    client = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=True).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page_of_text(page).find("input", attrs={"name": "csrf_token"})["value"]
    assert client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}).status_code == 302

    refused = client.post(remove_path(e3))
    assert refused.status_code == 400 and "The form expired" in refused.get_data(as_text=True)
    assert reload(License, e3.id).retired_at is None

    confirm = page_of_text(client.get(remove_path(e3)).get_data(as_text=True))
    token = confirm.find("form", action=remove_path(e3)).find("input", attrs={"name": "csrf_token"})["value"]
    assert client.post(remove_path(e3), data={"csrf_token": token}).status_code == 302
    assert reload(License, e3.id).retired_at is not None


def page_of_text(text):
    return BeautifulSoup(text, "html.parser")


# --- entering the plan again ---------------------------------------------------------------------


def test_a_removed_plan_can_be_entered_again_as_a_new_license(logged_in, e1, e3, license_form):
    logged_in.post(remove_path(e1))

    # The same plan, spelled as the plan key sees it: the removed license takes no plan from anyone.
    response = logged_in.post("/licenses", data=license_form(plan="office 365  e1"))

    assert response.status_code == 302
    with db.database.connection_context():
        again = License.get((License.plan_key == "office 365 e1") & License.retired_at.is_null())
        assert again.id != e1.id
        assert LicenseVersion.select().where(LicenseVersion.license == e1.id).count() == 1
    tab = page_of(logged_in.get("/licenses"))
    assert tab.find(id=f"license-{again.id}") is not None and tab.find(id=f"license-{e1.id}") is None

    # One license per plan still holds among those not removed.
    duplicate = logged_in.post("/licenses", data=license_form(plan="Office 365 E1"))
    assert duplicate.status_code == 422
    assert "Your account already has a license for office 365 e1" in text_of(duplicate)


def test_the_database_holds_one_license_per_plan_among_those_not_removed(app, account, office365):
    """The partial unique index the migration made, on the database itself."""
    from peewee import IntegrityError

    first = add_license(account, plan="Office 365 E1")
    with db.database.connection_context():
        License.update(retired_at=datetime(2026, 1, 1)).where(License.id == first.id).execute()
        second = License.create(account=account.id, product=office365.id, plan="Office 365 E1", plan_key="office 365 e1")
        with pytest.raises(IntegrityError):
            with db.database.atomic():
                License.create(account=account.id, product=office365.id, plan="Office 365 E1", plan_key="office 365 e1")
        assert License.select().where(License.plan_key == "office 365 e1").count() == 2
        assert second.id != first.id


# --- billing: the next cycle, not the one under way ------------------------------------------------


def billing_rows(staff, year, month):
    response = staff.get(f"/admin/billing?cycle={format_cycle(year, month)}")
    assert response.status_code == 200
    page = page_of(response)
    return {
        cells[0]: cells
        for cells in (
            [" ".join(td.get_text(" ").split()) for td in tr.find_all("td")]
            for tr in page.find(id="billing").find("tbody").find_all("tr") if tr.get("data-account-id")
        )
    }


def test_billing_counts_a_removed_plan_in_the_cycle_under_way_and_not_in_the_next(logged_in, staff, account, e3, today):
    start = current_cycle_start(today, account.billing_day)
    expired = add_license(account, plan="Office 365 E1", seats=5, expires_on=start - timedelta(days=1))
    logged_in.post(remove_path(expired))
    # It had lapsed: the removal counts once staff confirm it.
    assert staff.post(f"/admin/removals/{expired.id}", data={"decision": "confirm"}).status_code == 302

    # The cycle under way was decided at its start, with the expired plan in it.
    current = billing_rows(staff, start.year, start.month)["Northwind Traders"]
    assert current[2:5] == ["Subscription", "expired: Office 365 E1", "0"]
    # The next one no longer counts it: BYOL, with the remaining plan's seats.
    following = billing_rows(staff, *next_cycle(today))["Northwind Traders"]
    assert following[2:5] == ["BYOL (can still change)", "every license current", "25"]


def test_removing_the_last_plan_bills_the_next_cycle_by_subscription(logged_in, staff, e3, today):
    logged_in.post(remove_path(e3))
    following = billing_rows(staff, *next_cycle(today))["Northwind Traders"]
    assert following[2:4] == ["Subscription (can still change)", "no license on file"]


def sub(plan, retired_at=None, expires_on=date(2027, 6, 30), seats=25, license_id=1):
    return Submission(license_id, plan, seats, expires_on, datetime(2026, 1, 5, 9), "pending", (), license_id, retired_at)


@pytest.mark.parametrize("retired_at, march, april", [
    (None, (SUBSCRIPTION, ("Office 365 E1",)), (SUBSCRIPTION, ("Office 365 E1",))),
    # Removed during March: March (started on the 1st) still counts it; April does not.
    (datetime(2026, 3, 15, 10), (SUBSCRIPTION, ("Office 365 E1",)), (BYOL, ())),
    # Removed a second before March began: March does not count it either.
    (datetime(2026, 2, 28, 23, 59, 59), (BYOL, ()), (BYOL, ())),
    # Removed at the very moment March began: March had it on file.
    (datetime(2026, 3, 1), (SUBSCRIPTION, ("Office 365 E1",)), (BYOL, ())),
])
def test_a_cycle_is_decided_with_the_plans_not_removed_before_it_started(retired_at, march, april):
    subs = [sub("Office 365 E3", license_id=1), sub("Office 365 E1", retired_at, date(2026, 2, 1), 5, license_id=2)]
    history = AccountHistory(billing_day=1)
    for (year, month), (mode, expired) in (((2026, 3), march), ((2026, 4), april)):
        decided = cycle_billing(year, month, history, subs, date(2026, 4, 20), "UTC")
        assert (decided.mode, decided.expired) == (mode, expired), (year, month)


def test_a_cycle_not_yet_started_leaves_out_every_removed_plan():
    subs = [sub("Office 365 E3", license_id=1), sub("Office 365 E1", datetime(2026, 4, 20, 8), license_id=2, seats=5)]
    decided = cycle_billing(2026, 5, AccountHistory(billing_day=1), subs, date(2026, 4, 20), "UTC")
    assert (decided.mode, decided.byol_seats, decided.plans, decided.can_still_change) == (
        BYOL, 25, ("Office 365 E3",), True)


# --- reminders ---------------------------------------------------------------------------------------


@pytest.fixture
def mail_app(app, smtp_server):
    smtp_server.configure(app)
    return app


def test_a_removed_plan_gets_no_reminder_and_is_not_counted_in_the_users_that_move(
    mail_app, runner, smtp_server, logged_in, account, today
):
    due = add_license(account, plan="Office 365 E1", seats=5, expires_on=today + timedelta(days=10),
                      contact_email="e1@northwind.example")
    add_license(account, plan="Office 365 E3", seats=25, expires_on=today + timedelta(days=20),
                contact_email="e3@northwind.example")
    logged_in.post(remove_path(due))

    result = runner.invoke(args=["send-reminders", "--today", today.isoformat()])

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "sent 1, failed 0, skipped 0"
    assert smtp_server.to("e1@northwind.example") == []
    (message,) = smtp_server.to("e3@northwind.example")
    assert "All 25 BYOL users of Northwind Traders" in message.get_body(("plain",)).get_content()
    with db.database.connection_context():
        assert Reminder.select().where(Reminder.license == due.id).count() == 0


def test_staff_see_an_undelivered_reminder_of_a_removed_plan_as_no_longer_needed(logged_in, staff, account, today):
    due = add_license(account, plan="Office 365 E1", expires_on=today + timedelta(days=10))
    with db.database.connection_context():
        Reminder.create(license=due.id, expires_on=today + timedelta(days=10), recipient="pat@northwind.example",
                        status=Reminder.FAILED, attempts=1, last_error="451 try later")
    logged_in.post(remove_path(due))
    section = page_of(staff.get(f"/admin/accounts/{account.id}")).find(id="reminders")
    assert "no longer needed: the customer removed the plan" in " ".join(section.get_text(" ").split())


# --- what staff see of a removed plan ------------------------------------------------------------


def test_staff_see_a_removed_plan_with_who_removed_it_and_when(logged_in, staff, account, user, e1, e3):
    logged_in.post(remove_path(e1))
    removed_at = reload(License, e1.id).retired_at

    page = page_of(staff.get(f"/admin/accounts/{account.id}"))
    section = page.find(id="removed-plans")
    row = " ".join(section.find("tbody").get_text(" ").split())
    assert row == f"Office 365 E1 5 31 Dec 2099 {removed_at.day} {removed_at:%b %Y %H:%M} UTC {user.email}"
    assert section.find("a", href=f"/admin/licenses/{e1.id}") is not None
    licenses_table = " ".join(page.find("h2", string="Licenses and proof").find_parent("section").get_text(" ").split())
    assert "Office 365 E3" in licenses_table and "Office 365 E1" not in licenses_table

    history = staff.get(f"/admin/licenses/{e1.id}")
    assert history.status_code == 200
    notice = " ".join(page_of(history).find(id="removed-notice").get_text(" ").split())
    assert notice.startswith(f"Removed on {removed_at.day} {removed_at:%b %Y %H:%M} UTC by {user.email}.")


def test_a_removal_by_a_user_since_deleted_still_shows(logged_in, staff, account, user, e1, e3):
    logged_in.post(remove_path(e1))
    with db.database.connection_context():
        User.delete().where(User.id == user.id).execute()
    section = page_of(staff.get(f"/admin/accounts/{account.id}")).find(id="removed-plans")
    assert " ".join(section.find("tbody").get_text(" ").split()).endswith("UTC a user since deleted")
    notice = page_of(staff.get(f"/admin/licenses/{e1.id}")).find(id="removed-notice")
    assert "by a user since deleted." in " ".join(notice.get_text(" ").split())
    (entry,) = audit_entries("license.retired")
    assert (entry.actor_id, entry.actor_label) == (None, user.email)


def test_a_removed_plans_pending_proof_leaves_the_review_queue(logged_in, staff, e1, e3):
    queue = page_of(staff.get("/admin/reviews"))
    assert queue.find(id=f"review-{e1.current_id}") is not None
    logged_in.post(remove_path(e1))
    queue = page_of(staff.get("/admin/reviews"))
    assert queue.find(id=f"review-{e1.current_id}") is None and queue.find(id=f"review-{e3.current_id}") is not None


def test_a_removed_plan_leaves_the_customers_calendar_feed(logged_in, e1, e3):
    url = page_of(logged_in.post("/calendar")).find(id="feed-url")["value"]
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert "Office 365 E1" in logged_in.get(path).get_data(as_text=True)
    logged_in.post(remove_path(e1))
    feed = logged_in.get(path).get_data(as_text=True)
    assert "Office 365 E3" in feed and "Office 365 E1" not in feed


# --- staff rename a plan ---------------------------------------------------------------------------


def rename(staff, license, plan):
    return staff.post(f"/admin/licenses/{license.id}/plan", data={"plan": plan})


def test_staff_rename_a_plan_with_an_audit_entry(staff, logged_in, account, admin, e3):
    typo = add_license(account, plan="Office 356 E1", seats=5)

    response = rename(staff, typo, "  Office 365   E1 ")

    assert response.status_code == 302 and response.headers["Location"] == f"/admin/licenses/{typo.id}"
    assert messages_of(staff.get(response.headers["Location"])) == "The plan Office 356 E1 is now named Office 365 E1."
    renamed = reload(License, typo.id)
    assert (renamed.plan, renamed.plan_key) == ("Office 365 E1", "office 365 e1")
    assert "Office 365 E1" in text_of(logged_in.get("/licenses"))
    (entry,) = audit_entries("license.renamed")
    assert (entry.account_id, entry.actor_id, entry.subject) == (account.id, admin.id, "Office 365 E1")
    assert (audit.values(entry.before), audit.values(entry.after)) == ({"plan": "Office 356 E1"}, {"plan": "Office 365 E1"})


def test_the_license_page_has_the_rename_form_prefilled(staff, e3):
    form = page_of(staff.get(f"/admin/licenses/{e3.id}")).find("form", action=f"/admin/licenses/{e3.id}/plan")
    assert form["method"] == "post"
    assert form.find("input", attrs={"name": "plan"})["value"] == "Office 365 E3"


def test_renaming_to_the_same_name_changes_nothing(staff, e3):
    response = rename(staff, e3, "Office 365 E3")
    assert messages_of(staff.get(response.headers["Location"])) == (
        "The plan already was named Office 365 E3; nothing changed.")
    assert audit_entries("license.renamed") == []


def test_renaming_only_the_case_is_a_rename(staff, account):
    typo = add_license(account, plan="office 365 e3")
    assert rename(staff, typo, "Office 365 E3").status_code == 302
    assert reload(License, typo.id).plan == "Office 365 E3" and len(audit_entries("license.renamed")) == 1


@pytest.mark.parametrize("taken", ["Office 365 E3", "office 365  e3", "Ｏｆｆｉｃｅ 365 E3"])
def test_a_rename_onto_another_plan_of_the_account_is_refused_at_the_field(staff, account, e3, taken):
    other = add_license(account, plan="Office 365 E1", seats=5)
    before = licenses_in_db()

    response = rename(staff, other, taken)

    assert response.status_code == 422
    error = page_of(response).find(id="plan-error")
    assert error is not None and "This account already has a license for Office 365 E3" in error.get_text()
    assert "Choose another name" in error.get_text()
    assert page_of(response).find("details", id="rename").has_attr("open")
    assert licenses_in_db() == before and audit_entries("license.renamed") == []


def test_a_rename_may_take_the_name_of_a_removed_plan_or_of_another_account(staff, logged_in, account, make_account, e3):
    old = add_license(account, plan="Office 365 E1")
    logged_in.post(remove_path(old))
    add_license(make_account("Other Co"), plan="Office 365 E5")
    typo = add_license(account, plan="Ofice 365 E1")
    assert rename(staff, typo, "Office 365 E1").status_code == 302
    assert rename(staff, typo, "Office 365 E5").status_code == 302
    assert reload(License, typo.id).plan == "Office 365 E5"


@pytest.mark.parametrize("hostile, said", [
    ("Office 365\x00 E3", "invisible or control character (U+0000)"),
    ("Office 365 \u202eE3", "invisible or control character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
    ("x" * 100_000, "Field cannot be longer than 200 characters."),
    ("   ", "Enter the plan name as Office 365 shows it."),
    ("", "Enter the plan name as Office 365 shows it."),
    ("\u200b", "invisible or control character (U+200B ZERO WIDTH SPACE)"),
    ("ﷺ" * 12, "too long once its special characters"),
])
def test_hostile_plan_names_are_refused_at_the_field(staff, e3, hostile, said):
    before = licenses_in_db()
    response = rename(staff, e3, hostile)
    assert response.status_code == 422
    error = page_of(response).find(id="plan-error")
    assert error is not None and said in error.get_text(), error
    assert licenses_in_db() == before and audit_entries("license.renamed") == []


def test_a_rename_without_a_plan_field_is_refused(staff, e3):
    response = staff.post(f"/admin/licenses/{e3.id}/plan", data={})
    assert response.status_code == 422 and reload(License, e3.id).plan == "Office 365 E3"


@pytest.mark.parametrize("license_id", ["999999", "2147483648", "1" * 30, "١"])
def test_renaming_a_license_that_does_not_exist_is_not_found(staff, license_id):
    assert staff.post(f"/admin/licenses/{license_id}/plan", data={"plan": "Office 365 E3"}).status_code == 404


def test_a_rename_without_the_csrf_token_is_refused(database_url, admin, e3):
    client = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=True).test_client()
    token = page_of_text(client.get("/login").get_data(as_text=True)).find("input", attrs={"name": "csrf_token"})["value"]
    client.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    refused = client.post(f"/admin/licenses/{e3.id}/plan", data={"plan": "Office 365 E5"})
    assert refused.status_code == 400 and reload(License, e3.id).plan == "Office 365 E3"


# --- every destructive staff action asks first ------------------------------------------------------

DESTRUCTIVE = [
    # (path of the change, the intent, the question, the detail's start, what the page's POST changes)
    ("/admin/accounts/{account}/status", ("status", "suspended"), "Suspend Northwind Traders?",
     "Its users are signed out at once", lambda account, user: account.status == Account.SUSPENDED),
    ("/admin/accounts/{account}/enrollment", ("enrollment", "subscription"),
     "Switch Northwind Traders to provider subscription?", "From its next billing cycle",
     lambda account, user: account.byol_enrolled is False),
    ("/admin/users/{user}/authorization", ("authorization", "unauthorized"),
     "Remove the authorization of pat@northwind.example?", "They are signed out at once",
     lambda account, user: user.is_authorized is False),
    ("/admin/users/{user}/access", ("access", "deactivated"), "Deactivate pat@northwind.example?",
     "They are signed out at once and can no longer sign in", lambda account, user: user.deactivated_at is not None),
]
SAID = {
    "suspended": "Northwind Traders is now suspended.",
    "subscription": "Northwind Traders is now billed by provider subscription.",
    "unauthorized": "pat@northwind.example is no longer authorized.",
    "deactivated": "pat@northwind.example is deactivated: they can no longer sign in.",
}


def state(account, user):
    return reload(Account, account.id), reload(User, user.id)


@pytest.mark.parametrize("path, intent, question, detail, done", DESTRUCTIVE)
def test_each_destructive_button_asks_in_a_dialog_and_without_javascript_opens_a_page(
    staff, account, user, path, intent, question, detail, done
):
    action = path.format(account=account.id, user=user.id)
    page = page_of(staff.get(f"/admin/accounts/{account.id}"))
    form = page.find("form", action=action)
    # Without JavaScript the button GETs the change's URL; htmx posts there after the dialog.
    assert form["method"] == "get" and form["hx-post"] == action
    assert form["hx-confirm"].startswith(question + " " + detail)
    assert form["hx-target"] == "body" and form["hx-push-url"] == f"/admin/accounts/{account.id}"
    assert {i["name"]: i["value"] for i in form.find_all("input")} == dict([intent])

    before = state(account, user)
    confirm = staff.get(action, query_string=dict([intent]))
    assert confirm.status_code == 200
    assert state(account, user) == before and not done(*before)
    asks = page_of(confirm)
    assert asks.find("h1").get_text() == question and detail in text_of(confirm)
    post = asks.find("form", action=action)
    assert post["method"] == "post"
    fields = {i["name"]: i["value"] for i in post.find_all("input")}
    assert fields.pop("csrf_token") is not None and fields == dict([intent])
    assert asks.find("a", string="Cancel")["href"] == f"/admin/accounts/{account.id}"

    response = staff.post(action, data=fields)
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/accounts/{account.id}"
    assert done(*state(account, user))


@pytest.mark.parametrize("path, intent, question, detail, done", DESTRUCTIVE)
def test_the_post_endpoints_still_take_a_direct_htmx_post(staff, account, user, path, intent, question, detail, done):
    """What hx-post sends after the dialog: the intent, the CSRF header (off in tests), HX-Request."""
    action = path.format(account=account.id, user=user.id)
    response = staff.post(action, data=dict([intent]), headers={"HX-Request": "true"}, follow_redirects=True)
    assert response.status_code == 200 and messages_of(response) == SAID[intent[1]]
    assert "<html" in response.get_data(as_text=True)  # the account page, swapped into the body
    assert done(*state(account, user))


@pytest.mark.parametrize("query", [{}, {"status": "paused"}, {"status": "SUSPENDED"}, {"status": "x\x00"}])
def test_a_confirmation_page_for_no_known_intent_is_refused(staff, account, query):
    response = staff.get(f"/admin/accounts/{account.id}/status", query_string=query)
    assert response.status_code == 422 and "Nothing was changed" in text_of(response)
    assert reload(Account, account.id).status == Account.ACTIVE


def test_confirmation_pages_of_unknown_objects_are_not_found(staff, admin):
    for path in ("/admin/accounts/999999/status?status=suspended", "/admin/accounts/999999/enrollment?enrollment=byol",
                 "/admin/users/999999/authorization?authorization=unauthorized",
                 "/admin/users/999999/access?access=deactivated", "/admin/accounts/99999999999/status",
                 # A staff admin is no customer user: no page changes them here.
                 f"/admin/users/{admin.id}/access?access=deactivated"):
        assert staff.get(path).status_code == 404, path


def test_the_undoing_buttons_post_directly(staff, account, user):
    staff.post(f"/admin/accounts/{account.id}/status", data={"status": "suspended"})
    staff.post(f"/admin/accounts/{account.id}/enrollment", data={"enrollment": "subscription"})
    staff.post(f"/admin/users/{user.id}/access", data={"access": "deactivated"})
    page = page_of(staff.get(f"/admin/accounts/{account.id}"))
    for action in (f"/admin/accounts/{account.id}/status", f"/admin/accounts/{account.id}/enrollment",
                   f"/admin/users/{user.id}/access"):
        form = page.find("form", action=action)
        assert form["method"] == "post" and not form.has_attr("hx-confirm"), action


def test_the_confirmation_pages_are_for_staff_only(logged_in, account, user):
    for path in (f"/admin/accounts/{account.id}/status?status=suspended",
                 f"/admin/users/{user.id}/access?access=deactivated"):
        assert logged_in.get(path).status_code == 403
    assert reload(Account, account.id).status == Account.ACTIVE
