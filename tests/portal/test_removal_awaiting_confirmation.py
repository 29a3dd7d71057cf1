"""Removing a lapsed plan waits for staff (docs/domain.md, "Removing a plan"): it is removal awaiting
confirmation and still counts as lapsed; staff confirm it (billing follows the next-cycle rule from the
confirmation) or refuse it with a reason the customer is emailed. Every step is audited."""
import csv
import io
from datetime import datetime, timedelta

import pytest
from helpers import insert_license, messages_of, page_of, reload, text_of

from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.extensions import mail as flask_mail
from webapp.licenses.models import License

LONG_AGO = datetime(2020, 1, 1)
REASON = "Office 365 E1 is still billed on your Microsoft invoice of 1 December."


@pytest.fixture
def plans(account, today):
    """A current plan and an expired one, both on file long before this month's cycle began."""
    current = insert_license(account, "Office 365 E3", today + timedelta(days=300), seats=25, submitted_at=LONG_AGO)
    expired = insert_license(account, "Office 365 E1", today - timedelta(days=40), seats=5, submitted_at=LONG_AGO)
    return current, expired


def byol_text(response):
    return text_of(page_of(response).find(id="byol-status"))


def billing_row(staff, account, month):
    response = staff.get(f"/admin/billing.csv?cycle={month:%Y-%m}")
    assert response.status_code == 200
    rows = [row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))
            if row["account"] == account.name]
    assert len(rows) == 1
    return rows[0]


def next_month(today):
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


def audit_kinds(account):
    with db.database.connection_context():
        return [entry.kind for entry in AuditEntry.select().where(AuditEntry.account == account.id)
                .order_by(AuditEntry.id)]


def test_removing_a_current_plan_takes_effect_at_once(customer, plans):
    current, _ = plans
    response = customer.post(f"/licenses/{current.id}/remove")
    assert response.status_code == 302
    assert reload(License, current.id).retired_at is not None


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["without JavaScript", "with htmx"])
def test_removing_a_lapsed_plan_waits_for_staff_and_still_counts(customer, plans, headers):
    _, expired = plans
    before = byol_text(customer.get("/licenses"))
    assert before.startswith("BYOL has lapsed") and "Office 365 E1" in before
    # The page without JavaScript, and the dialog's words, say it waits.
    asking = customer.get(f"/licenses/{expired.id}/remove")
    assert "does not bring BYOL back by itself" in text_of(asking)
    row = page_of(customer.get("/licenses")).find(id=f"license-{expired.id}")
    assert "does not bring BYOL back by itself" in row.find("a", class_="remove")["hx-confirm"]

    response = customer.post(f"/licenses/{expired.id}/remove", headers=headers)
    assert response.status_code == (200 if headers else 302)
    license = reload(License, expired.id)
    assert license.retired_at is None and license.removal_requested_at is not None
    tab = customer.get("/licenses")
    after = byol_text(tab)
    # Still lapsed, from the same cycle, for the same plan.
    assert after.startswith("BYOL has lapsed") and before.split(" Invoices")[0] in after
    row = page_of(tab).find(id=f"license-{expired.id}")
    assert "Removal awaiting confirmation by staff" in text_of(row)
    assert row.find("a", class_="remove") is None
    # A second removal changes nothing.
    customer.post(f"/licenses/{expired.id}/remove")
    assert "already awaits confirmation" in messages_of(customer.get("/licenses"))
    assert audit_kinds(expired.account).count("license.removal_requested") == 1


def test_staff_confirm_and_billing_follows_the_next_cycle_rule_from_the_confirmation(
        customer, staff, account, plans, today):
    _, expired = plans
    this_cycle, following = today.replace(day=1), next_month(today)
    assert billing_row(staff, account, this_cycle)["mode"] == "Subscription"
    customer.post(f"/licenses/{expired.id}/remove")
    # Awaiting confirmation: both cycles still count the lapsed plan.
    for month in (this_cycle, following):
        row = billing_row(staff, account, month)
        assert (row["mode"], row["reason"]) == ("Subscription", "expired: Office 365 E1")

    queue = page_of(staff.get("/admin/reviews")).find(id="removal-queue")
    assert "Office 365 E1" in text_of(queue) and "pat@northwind.example" in text_of(queue)
    response = staff.post(f"/admin/removals/{expired.id}", data={"decision": "confirm"})
    assert response.status_code == 302
    assert "Removal of Office 365 E1 confirmed" in messages_of(staff.get("/admin/reviews"))
    license = reload(License, expired.id)
    assert license.retired_at is not None and license.retired_by_id == license.removal_requested_by_id

    # The cycle under way began before the confirmation: decided as it was. The next one is BYOL.
    started = billing_row(staff, account, this_cycle)
    assert (started["mode"], started["reason"]) == ("Subscription", "expired: Office 365 E1")
    coming = billing_row(staff, account, following)
    assert (coming["mode"], coming["byol_seats"], coming["reason"]) == ("BYOL", "25", "every license current")
    assert byol_text(customer.get("/licenses")).startswith("BYOL is valid")
    assert audit_kinds(account)[-2:] == ["license.removal_requested", "license.removal_confirmed"]
    # Decided once: a second decision changes nothing.
    assert staff.post(f"/admin/removals/{expired.id}", data={"decision": "refuse", "reason": "x"}).status_code == 404


def test_staff_refuse_with_a_reason_the_plan_stays_and_the_customer_is_emailed(
        customer, staff, account, plans, app, smtp_server, user):
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    flask_mail.init_app(app)
    _, expired = plans
    customer.post(f"/licenses/{expired.id}/remove")
    # A refusal needs a reason.
    staff.post(f"/admin/removals/{expired.id}", data={"decision": "refuse", "reason": "  "})
    assert "Say why the removal is refused" in messages_of(staff.get("/admin/reviews"))
    assert reload(License, expired.id).removal_requested_at is not None

    response = staff.post(f"/admin/removals/{expired.id}", data={"decision": "refuse", "reason": REASON})
    assert response.status_code == 302
    license = reload(License, expired.id)
    assert license.retired_at is None and license.removal_requested_at is None
    [message] = smtp_server.to(user.email)
    assert message["Subject"] == "Removal of Office 365 E1 was not confirmed"
    assert REASON in message.get_body(("plain",)).get_content()
    assert len(smtp_server.messages) == 1  # the contact person is the user who asked: one email
    row = page_of(customer.get("/licenses")).find(id=f"license-{expired.id}")
    assert "Removal awaiting" not in text_of(row) and row.find("a", class_="remove") is not None
    assert audit_kinds(account)[-2:] == ["license.removal_requested", "license.removal_refused"]
    with db.database.connection_context():
        refused = AuditEntry.select().where(AuditEntry.kind == "license.removal_refused").get()
    assert REASON in refused.after


def test_a_removal_is_decided_only_by_staff_and_only_for_one_awaiting(customer, staff, plans, make_account, today):
    current, expired = plans
    # Nothing awaits: 404.
    assert staff.post(f"/admin/removals/{current.id}", data={"decision": "confirm"}).status_code == 404
    assert staff.post("/admin/removals/99999999999999999999", data={"decision": "confirm"}).status_code == 404
    customer.post(f"/licenses/{expired.id}/remove")
    # A customer cannot confirm their own removal.
    assert customer.post(f"/admin/removals/{expired.id}", data={"decision": "confirm"}).status_code in (302, 403, 404)
    assert reload(License, expired.id).retired_at is None
    # Another account's user cannot ask to remove this account's plan.
    other = make_account("Contoso Ltd")
    other_plan = insert_license(other, "Office 365 E1", today - timedelta(days=40))
    assert customer.post(f"/licenses/{other_plan.id}/remove").status_code == 404
    assert reload(License, other_plan.id).removal_requested_at is None
