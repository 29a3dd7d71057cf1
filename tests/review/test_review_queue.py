"""The staff review queue: pending proof across accounts, Accept/Reject per row, and the rejection email."""
from datetime import date, timedelta

import pytest
from conftest import count_queries
from helpers import insert_license, messages_of, page_of, reload, renew_license, text_of

from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion
from webapp.review.models import ReviewEvent

REASON = "The document shows another tenant, not northwind.onmicrosoft.com."


def queue_rows(response):
    table = page_of(response).find(id="review-queue")
    return [" ".join(row.get_text(" ").split()) for row in table.find("tbody").find_all("tr")]


def submitted_by(license, user):
    with db.database.connection_context():
        LicenseVersion.update(submitted_by=user.id).where(LicenseVersion.id == license.current_id).execute()


def test_the_queue_lists_pending_current_proof_across_accounts_oldest_first(staff, account, make_account):
    first = insert_license(account, plan="Office 365 E3", seats=25)
    other = make_account("Contoso Ltd")
    second = insert_license(other, plan="Office 365 E1", seats=7, expires_on=date(2098, 3, 31))
    done = insert_license(account, plan="Microsoft 365 Business Standard")
    staff.post(f"/admin/versions/{done.current_id}/review", data={"decision": "accepted"})

    rows = queue_rows(staff.get("/admin/reviews"))
    assert len(rows) == 2
    assert "Northwind Traders" in rows[0] and "Office 365 E3" in rows[0] and "25" in rows[0]
    assert "northwind.onmicrosoft.com" in rows[0] and "31 Dec 2099" in rows[0]
    assert "Contoso Ltd" in rows[1] and "Office 365 E1" in rows[1] and "31 Mar 2098" in rows[1]
    assert not any("Business Standard" in row for row in rows)
    assert second.current_id != first.current_id


def test_the_queue_costs_the_same_queries_for_one_row_or_forty(staff, account, make_account):
    insert_license(account)
    with count_queries() as few:
        assert staff.get("/admin/reviews").status_code == 200
    for n in range(40):
        insert_license(make_account(f"More {n:02}"))
    with count_queries() as many:
        response = staff.get("/admin/reviews")
    assert len(queue_rows(response)) == 41
    assert len(few) == len(many), many


def test_accepting_from_the_queue_records_it_and_leaves_the_queue(staff, account, admin, smtp_server, app):
    smtp_server.configure(app)
    license = insert_license(account)
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "accepted"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/reviews"
    page = staff.get("/admin/reviews")
    assert "Proof for Office 365 E3 accepted." in messages_of(page)
    assert "No proof awaits review." in text_of(page)
    assert reload(LicenseVersion, license.current_id).review_status == "accepted"
    assert smtp_server.messages == []


def test_a_rejection_without_reason_keeps_the_choice_and_shows_the_error_at_its_row(staff, account):
    license = insert_license(account)
    other = insert_license(account, plan="Office 365 E1")
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": "   "})
    assert response.status_code == 422
    row = page_of(response).find(id=f"review-{license.current_id}")
    assert "Say why the proof is rejected" in row.get_text()
    assert row.find("details", class_="reject").has_attr("open")  # the reason stays open, Reject still chosen
    assert row.find("textarea", {"name": "reason"}).has_attr("autofocus")
    assert "Say why" not in page_of(response).find(id=f"review-{other.current_id}").get_text()
    assert reload(LicenseVersion, license.current_id).review_status == "pending"


def test_an_htmx_error_returns_only_the_row_with_what_was_typed(staff, account):
    license = insert_license(account)
    long_reason = "x" * 501
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": long_reason},
                          headers={"HX-Request": "true"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    row = page_of(response).find(id=f"review-{license.current_id}")
    assert row.find("textarea", {"name": "reason"}).get_text() == long_reason
    assert row.find("details", class_="reject").has_attr("open")
    assert row.find(class_="error-summary") is not None


def test_an_htmx_review_replaces_the_row_and_says_what_happened(staff, account):
    license = insert_license(account)
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "accepted"},
                          headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert "proof for Office 365 E3 accepted" in text_of(response)


@pytest.mark.parametrize("version_id", ["999999", "0"])
def test_an_unknown_version_is_404(staff, version_id):
    assert staff.post(f"/admin/reviews/{version_id}", data={"decision": "accepted"}).status_code == 404


def test_a_rejection_emails_the_contact_and_the_submitter(staff, account, make_user, smtp_server, app):
    user = make_user("sam@northwind.example", account=account, name="Sam Roe")
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    from webapp.extensions import mail
    mail.init_app(app)
    license = insert_license(account)
    submitted_by(license, user)

    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})
    assert response.status_code == 302
    version = reload(LicenseVersion, license.current_id)
    assert (version.review_status, version.review_reason) == ("rejected", REASON)

    for address in ("pat@northwind.example", user.email):
        [message] = smtp_server.to(address)
        assert message["Subject"] == "Proof for Office 365 E3 was not accepted"
        text = message.get_body(("plain",)).get_content()
        assert REASON in text
        assert app.config["PORTAL_URL"].rstrip("/") + "/licenses" in text
    assert len(smtp_server.messages) == 2
    assert smtp_server.to(user.email)[0]["To"] == "Sam Roe <sam@northwind.example>"
    assert "could not be sent" not in messages_of(staff.get("/admin/reviews"))


def test_the_account_page_review_also_emails_a_rejection(staff, account, smtp_server, app):
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    from webapp.extensions import mail
    mail.init_app(app)
    license = insert_license(account)
    staff.post(f"/admin/versions/{license.current_id}/review", data={"decision": "rejected", "reason": REASON})
    [message] = smtp_server.to("pat@northwind.example")
    assert REASON in message.get_body(("plain",)).get_content()


def test_a_failed_email_keeps_the_review_and_tells_staff(staff, account, smtp_server, app):
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    from webapp.extensions import mail
    mail.init_app(app)
    smtp_server.refuse["pat@northwind.example"] = "550 5.1.1 mailbox unavailable"
    license = insert_license(account)
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})
    assert response.status_code == 302
    assert reload(LicenseVersion, license.current_id).review_status == "rejected"
    with db.database.connection_context():
        assert ReviewEvent.select().where(ReviewEvent.version == license.current_id).count() == 1
    messages = messages_of(staff.get("/admin/reviews"))
    assert "the email to pat@northwind.example could not be sent" in messages


def test_a_server_that_cannot_be_reached_keeps_the_review_too(staff, account, app):
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    from webapp.extensions import mail
    mail.init_app(app)
    license = insert_license(account)
    response = staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON},
                          headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "could not be sent" in text_of(response)
    assert reload(LicenseVersion, license.current_id).review_status == "rejected"


def test_renewing_a_rejected_license_puts_it_back_in_the_queue(staff, account):
    license = insert_license(account)
    staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})
    assert "No proof awaits review." in text_of(staff.get("/admin/reviews"))
    renewed = renew_license(license, date(2099, 12, 31), proof=demo_pdf("Office 365 E3"), proof_name="new-proof.pdf",
                            seats=30)
    rows = queue_rows(staff.get("/admin/reviews"))
    assert len(rows) == 1 and "Office 365 E3" in rows[0] and "30" in rows[0]
    assert renewed.current_id != license.current_id


def test_the_admin_nav_links_to_the_queue(staff):
    nav = page_of(staff.get("/admin/")).find("a", string="Proof to review")
    assert nav is not None and nav["href"] == "/admin/reviews"


def test_a_submitter_who_is_the_contact_gets_one_email(staff, account, user, smtp_server, app):
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    from webapp.extensions import mail
    mail.init_app(app)
    license = insert_license(account)
    submitted_by(license, user)
    assert user.email == "pat@northwind.example"
    staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})
    assert len(smtp_server.messages) == 1


def test_the_update_form_of_a_rejected_license_shows_the_reason_and_is_prefilled(staff, customer, account):
    license = insert_license(account, seats=25, expires_on=date(2099, 6, 30))
    staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})

    page = page_of(customer.get(f"/licenses/{license.id}/update"))
    assert REASON in page.find(id="rejection-reason").get_text()
    assert page.find("input", {"name": "seats"})["value"] == "25"
    assert page.find("input", {"name": "expires_on"})["value"] == "2099-06-30"
    assert page.find("input", {"name": "tenant"})["value"] == "northwind.onmicrosoft.com"
    assert page.find("input", {"name": "contact_name"})["value"] == "Pat Doe"
    assert page.find("input", {"name": "contact_email"})["value"] == "pat@northwind.example"


def test_the_update_form_of_an_accepted_license_asks_for_the_new_date(staff, customer, account):
    license = insert_license(account, seats=25, expires_on=date(2099, 6, 30))
    staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "accepted"})
    page = page_of(customer.get(f"/licenses/{license.id}/update"))
    assert page.find(id="rejection-reason") is None
    assert not page.find("input", {"name": "expires_on"}).get("value")
    assert page.find("input", {"name": "seats"})["value"] == "25"


def test_uploading_through_the_update_form_puts_a_rejected_license_back_in_the_queue(staff, customer, account, pdf,
                                                                                    today):
    expires_on = today + timedelta(days=200)
    license = insert_license(account, seats=25, expires_on=expires_on)
    staff.post(f"/admin/reviews/{license.current_id}", data={"decision": "rejected", "reason": REASON})
    form = page_of(customer.get(f"/licenses/{license.id}/update"))
    fields = {field["name"]: field.get("value", "") for field in form.find_all("input") if field.get("name")
              and field.get("type") != "file"}
    fields["term"] = "Yearly"
    import io
    fields["proof"] = (io.BytesIO(pdf), "better-proof.pdf", "application/pdf")
    response = customer.post(f"/licenses/{license.id}/update", data=fields, content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)
    rows = queue_rows(staff.get("/admin/reviews"))
    assert len(rows) == 1 and "Office 365 E3" in rows[0] and f"{expires_on.day} {expires_on:%b %Y}" in rows[0]
    assert "better-proof.pdf" in text_of(staff.get(f"/admin/licenses/{license.id}"))


def test_a_second_review_from_the_queue_changes_nothing_and_sends_nothing(staff, account, smtp_server, app):
    smtp_server.configure(app)
    app.config["MAIL_SUPPRESS_SEND"] = False
    from webapp.extensions import mail
    mail.init_app(app)
    license = insert_license(account)
    path = f"/admin/reviews/{license.current_id}"
    staff.post(path, data={"decision": "rejected", "reason": REASON})
    response = staff.post(path, data={"decision": "accepted"})  # another admin's page, or a second click
    assert response.status_code == 302
    assert "was already reviewed; nothing changed" in messages_of(staff.get("/admin/reviews"))
    version = reload(LicenseVersion, license.current_id)
    assert (version.review_status, version.review_reason) == ("rejected", REASON)
    with db.database.connection_context():
        assert ReviewEvent.select().where(ReviewEvent.version == license.current_id).count() == 1
    assert len(smtp_server.to("pat@northwind.example")) == 1


@pytest.mark.parametrize("form", [
    {"decision": "maybe", "reason": "x"},
    {"decision": "", "reason": ""},
    {"reason": REASON},
    {"decision": "rejected", "reason": "bad\x00reason"},
    {"decision": "rejected", "reason": "evil\u202ereason"},
    {"decision": "rejected", "reason": "y" * 100_000},
])
def test_hostile_queue_submissions_come_back_at_the_row_and_change_nothing(staff, account, form):
    license = insert_license(account)
    for headers in ({}, {"HX-Request": "true"}):
        response = staff.post(f"/admin/reviews/{license.current_id}", data=form, headers=headers)
        assert response.status_code == 422
        assert page_of(response).find(id=f"review-{license.current_id}").find(class_="error-summary") is not None
    assert reload(LicenseVersion, license.current_id).review_status == "pending"
