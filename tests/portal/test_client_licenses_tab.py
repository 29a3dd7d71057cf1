"""The Client Licenses tab through the Flask test client: pages and fragments, adding, validation,
the kept upload, renewal, CSRF, the query budget and tenant isolation."""
import io
from datetime import date, datetime, timedelta

import pytest
from conftest import count_queries
from helpers import field_error, insert_license, log_in_with_csrf, page_of, text_of

from webapp import audit
from webapp.audit.models import AuditEntry
from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion, Product, ProofDocument
from webapp.licenses.proofs import Upload, store_upload

# Within the expiration horizon (LICENSE_MAX_YEARS_AHEAD) from any day the suite runs on.
IN_TWO_YEARS = (date.today() + timedelta(days=730)).isoformat()
HTMX = {"HX-Request": "true"}


def byol_text(response):
    return text_of(page_of(response).find(id="byol-status"))


def row_count(model):
    with db.database.connection_context():
        return model.select().count()


def day(value):
    """How the portal writes a date: 1 Jan 2027."""
    return f"{value.day} {value:%b %Y}"


def licenses_in_db(account):
    with db.database.connection_context():
        return list(License.select().where(License.account == account.id).order_by(License.id))


# --- Full page or fragment -------------------------------------------------------------------


@pytest.mark.parametrize("path, fragment_root", [("/licenses", "licenses-panel"), ("/licenses/new", "license-form")])
def test_plain_get_is_a_full_page(logged_in, path, fragment_root):
    response = logged_in.get(path)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" in body and 'class="masthead"' in body and "Client Licenses</a>" in body
    assert page_of(response).find(id=fragment_root) is not None
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("path, fragment_root", [("/licenses", "licenses-panel"), ("/licenses/new", "license-form")])
def test_htmx_get_is_only_the_fragment(logged_in, path, fragment_root):
    response = logged_in.get(path, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<head" not in body and "masthead" not in body and "<footer" not in body
    assert page_of(response).find(id=fragment_root) is not None
    assert body.lstrip().startswith(f'<section id="{fragment_root}"') or body.lstrip().startswith(
        f'<div id="{fragment_root}"'
    )
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/licenses", "/licenses/new"])
@pytest.mark.parametrize(
    "extra", [{"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}], ids=["boosted", "history-restore"]
)
def test_boosted_and_history_restore_get_the_full_page(logged_in, path, extra):
    response = logged_in.get(path, headers={**HTMX, **extra})
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_the_add_form_offers_ms_office_365_and_every_labelled_field(logged_in):
    page = page_of(logged_in.get("/licenses/new", headers=HTMX))
    labels = {text_of(label) for label in page.find_all("label")}
    assert {
        "Product", "Plan", "Number of licenses", "Subscription term", "Expiration date",
        "Microsoft 365 tenant", "Contact name", "Contact email", "Proof of licensing",
    } <= labels
    assert "MS Office 365" in [text_of(o) for o in page.find(id="product").find_all("option")]
    assert [text_of(o) for o in page.find(id="term").find_all("option") if o["value"]] == ["Yearly", "Monthly"]
    assert text_of(page.find("button", type="submit")) == "Save"


# --- Add License -----------------------------------------------------------------------------


def test_add_license_without_htmx_redirects_to_the_tab_with_the_row(logged_in, license_form, account, today):
    expires_on = today + timedelta(days=700)
    response = logged_in.post("/licenses", data=license_form(expires_on=expires_on.isoformat()))
    assert response.status_code == 302
    assert response.headers["Location"] == "/licenses"

    (license,) = licenses_in_db(account)
    page = logged_in.get("/licenses")
    row = page_of(page).find(id=f"license-{license.id}")
    assert row is not None and "Office 365 E3" in text_of(row) and f"{expires_on.day} {expires_on:%b %Y}" in text_of(row)
    assert "Office 365 E3 was added." in text_of(page_of(page).find(id="messages"))


def test_add_license_with_htmx_refreshes_the_panel_and_the_byol_status(logged_in, license_form, account, today):
    year = today.year + 2
    before = logged_in.get("/licenses", headers=HTMX)
    assert "BYOL needs proof of licensing" in byol_text(before)

    response = logged_in.post("/licenses", data=license_form(expires_on=f"{year}-12-31"), headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#licenses-panel"
    assert response.headers["HX-Reswap"] == "outerHTML"
    body = response.get_data(as_text=True)
    assert "<html" not in body

    page = page_of(response)
    (license,) = licenses_in_db(account)
    assert page.find(id="licenses-panel") is not None
    assert "Office 365 E3" in text_of(page.find(id=f"license-{license.id}"))
    assert byol_text(response) == (
        f"BYOL is valid until 31 Dec {year} If the Office 365 E3 license is not updated by then, your 25 BYOL users "
        f"move to subscription billing for all MS Office products from the 1 Jan {year + 1} billing cycle. "
        "1 of your licenses has its proof awaiting review by staff; meanwhile it counts toward BYOL."
    )
    messages = page.find(id="messages")
    assert messages["hx-swap-oob"] == "true"
    assert "Office 365 E3 was added." in text_of(messages)


# --- The list and the BYOL status ------------------------------------------------------------


def test_list_shows_every_column_and_each_status(logged_in, account, today):
    current = insert_license(account, "Office 365 E3", today + timedelta(days=200), seats=25,
                             contact=("Ada Admin", "ada@northwind.example"), proof_name="e3-proof.pdf")
    soon = insert_license(account, "Microsoft 365 Business Standard", today + timedelta(days=10), seats=7)
    expired = insert_license(account, "Office 365 E1", today - timedelta(days=1), seats=3)
    rejected = insert_license(account, "Office 365 E5", today + timedelta(days=300), seats=2,
                              rejected="The document shows another tenant.")

    page = page_of(logged_in.get("/licenses"))
    headers = [text_of(th) for th in page.find(id="license-table").find("thead").find_all("th")]
    assert headers[:8] == ["Product", "Plan", "Seats", "Term", "Expiration date", "Status", "Contact", "Proof"]

    def cells(license):
        return [text_of(td) for td in page.find(id=f"license-{license.id}").find_all("td")]

    with db.database.connection_context():
        e3_proof = LicenseVersion.get_by_id(current.current_id).proof_id
    assert cells(current)[:8] == [
        "MS Office 365", "Office 365 E3", "25", "Yearly", day(today + timedelta(days=200)),
        f"current Proof awaiting review, submitted {day(today)}",
        "Ada Admin ada@northwind.example", "e3-proof.pdf",
    ]
    link = page.find(id=f"license-{current.id}").find("a", string="e3-proof.pdf")
    assert link["href"] == f"/proofs/{e3_proof}"
    assert cells(soon)[5] == f"expiring soon Proof awaiting review, submitted {day(today)}"
    assert cells(expired)[5] == f"expired Proof awaiting review, submitted {day(today)}"
    assert cells(rejected)[5] == "proof rejected Proof rejected: The document shows another tenant."


def test_byol_status_names_the_plan_that_lapses_first_and_the_cycle(logged_in, account):
    insert_license(account, "Office 365 E3", date(2099, 12, 31), seats=25)
    insert_license(account, "Microsoft 365 Business Standard", date(2099, 6, 30), seats=5)
    response = logged_in.get("/licenses")
    assert byol_text(response) == (
        "BYOL is valid until 30 Jun 2099 If the Microsoft 365 Business Standard license is not updated by then, "
        "your 30 BYOL users move to subscription billing for all MS Office products from the 1 Jul 2099 billing cycle. "
        "2 of your licenses have their proof awaiting review by staff; meanwhile they count toward BYOL."
    )


@pytest.mark.parametrize(
    "billing_day, expires_on, cycle",
    [
        (15, date(2099, 3, 14), "15 Mar 2099"),
        (15, date(2099, 3, 15), "15 Apr 2099"),
        (31, date(2100, 2, 27), "28 Feb 2100"),  # 2100 is no leap year: day 31 falls on the month's last day
        (31, date(2096, 2, 28), "29 Feb 2096"),
        (31, date(2099, 12, 31), "31 Jan 2100"),
    ],
)
def test_byol_status_uses_the_accounts_billing_day(client, login, make_account, make_user, billing_day, expires_on, cycle):
    account = make_account("Fabrikam", billing_day=billing_day)
    make_user("kim@fabrikam.example", account=account)
    login(client, "kim@fabrikam.example")
    insert_license(account, "Office 365 E3", expires_on, seats=4)
    text = byol_text(client.get("/licenses"))
    assert f"BYOL is valid until {day(expires_on)}" in text
    assert f"from the {cycle} billing cycle" in text


def test_an_expired_plan_shows_the_move_has_happened_and_no_refund(logged_in, account):
    insert_license(account, "Office 365 E3", date(2099, 12, 31), seats=25)
    insert_license(account, "Office 365 E1", date(2020, 3, 10), seats=5)
    text = byol_text(logged_in.get("/licenses"))
    assert text.startswith("BYOL has lapsed")
    assert "The Office 365 E1 license expired on 10 Mar 2020." in text
    assert "Since the 1 Apr 2020 billing cycle, your 30 BYOL users are billed by subscription for all MS Office products." in text
    assert "Invoices already issued are not refunded." in text


def test_a_plan_expired_yesterday_moves_on_the_next_cycle(client, login, make_account, make_user, today):
    # A billing day that is not today, so the move lies ahead.
    billing_day = 1 if today.day != 1 else 15
    account = make_account("Fabrikam", billing_day=billing_day)
    make_user("kim@fabrikam.example", account=account)
    login(client, "kim@fabrikam.example")
    yesterday = today - timedelta(days=1)
    insert_license(account, "Office 365 E1", yesterday, seats=5)
    if billing_day == 1:
        cycle = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    else:
        cycle = today.replace(day=15)
    text = byol_text(client.get("/licenses"))
    assert f"The Office 365 E1 license expired on {day(yesterday)}." in text
    assert f"From the {day(cycle)} billing cycle, your 5 BYOL users move to subscription billing" in text
    assert "Invoices already issued are not refunded." in text


def test_a_proof_rejected_late_in_the_evening_is_dated_by_the_business_date(app, logged_in, account, today):
    app.config["BUSINESS_TIMEZONE"] = "America/New_York"
    # 02:00 UTC on the 1st of a month some weeks back is 21:00 or 22:00 of the evening before in New York.
    first = (today.replace(day=1) - timedelta(days=40)).replace(day=1)
    license = insert_license(account, expires_on=today + timedelta(days=300))
    with db.database.connection_context():
        LicenseVersion.update(
            review_status=LicenseVersion.REJECTED, review_reason="Unreadable",
            reviewed_at=datetime(first.year, first.month, first.day, 2, 0),
        ).where(LicenseVersion.id == license.current_id).execute()

    standing = " ".join(page_of(logged_in.get("/licenses")).find(id="byol-status").get_text(" ").split())
    # The last valid day is the evening's date, so the cycle starting on the 1st is billed by subscription.
    assert f"Since the {day(first)} billing cycle" in standing

    app.config["BUSINESS_TIMEZONE"] = "UTC"
    following = (first + timedelta(days=32)).replace(day=1)
    standing = " ".join(page_of(logged_in.get("/licenses")).find(id="byol-status").get_text(" ").split())
    assert f"Since the {day(following)} billing cycle" in standing


# --- Validation ------------------------------------------------------------------------------


def assert_refused(response, field_id, *fragments):
    """422, the message inside the field's own error element, and no license saved."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    message = field_error(response, field_id)
    assert message, f"no error shown next to {field_id}"
    for fragment in fragments:
        assert fragment in message
    assert row_count(License) == 0 and row_count(LicenseVersion) == 0


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_monthly_term_is_refused_with_both_ways_out(logged_in, license_form, app, headers):
    response = logged_in.post("/licenses", data=license_form(term="Monthly"), headers=headers)
    assert_refused(
        response, "term",
        "Only yearly Office 365 plans", "switch this plan to a yearly subscription", "submit its proof",
        f"{app.config['PROVIDER_NAME']}'s subscription-based Office products",
    )
    body = response.get_data(as_text=True)
    assert ("<html" in body) == (not headers)


@pytest.mark.parametrize("plan", ["Office 365 E3", "office 365 e3", "  OFFICE   365  E3 "])
def test_a_second_license_for_the_same_plan_points_to_update(logged_in, license_form, account, plan):
    insert_license(account, "Office 365 E3", date(2099, 12, 31))
    response = logged_in.post("/licenses", data=license_form(plan=plan))
    assert response.status_code == 422
    message = field_error(response, "plan")
    assert "already has a license for Office 365 E3" in message and "Update" in message
    assert row_count(License) == 1 and row_count(LicenseVersion) == 1


def test_the_same_plan_name_in_another_account_is_no_duplicate(logged_in, license_form, make_account, account):
    insert_license(make_account("Fabrikam"), "Office 365 E3", date(2099, 12, 31))
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    assert len(licenses_in_db(account)) == 1


def test_past_expiration_date_is_refused(logged_in, license_form, today):
    response = logged_in.post("/licenses", data=license_form(expires_on=(today - timedelta(days=1)).isoformat()))
    assert_refused(response, "expires_on", "This date has passed")


def test_today_as_expiration_date_is_accepted(logged_in, license_form, today, account):
    assert logged_in.post("/licenses", data=license_form(expires_on=today.isoformat())).status_code == 302
    assert len(licenses_in_db(account)) == 1


@pytest.mark.parametrize("expires_on", ["2027-02-30", "31/12/2027", "03/04/2027", "30 February 2027", "soon"])
def test_an_unreal_date_is_refused(logged_in, license_form, expires_on):
    response = logged_in.post("/licenses", data=license_form(expires_on=expires_on))
    # Worded like a date the customer reads, not a pattern the date picker never shows.
    assert_refused(response, "expires_on", "Enter a real calendar date, for example 31 March 2027.")
    assert "YYYY" not in response.get_data(as_text=True)


@pytest.mark.parametrize("seats", ["0", "-1", "2.5", "abc", "1e3"])
def test_seats_must_be_a_whole_number_of_at_least_one(logged_in, license_form, seats):
    response = logged_in.post("/licenses", data=license_form(seats=seats))
    assert_refused(response, "seats", "Enter a whole number from 1 to 1,000,000.")
    assert field_error(response, "seats").count("whole number") == 1


@pytest.mark.parametrize("email", ["pat", "pat@", "pat@northwind", "pat northwind@example.com"])
def test_contact_email_must_be_valid(logged_in, license_form, email):
    assert_refused(logged_in.post("/licenses", data=license_form(contact_email=email)), "contact_email", "valid email")


@pytest.mark.parametrize(
    "tenant", ["northwind.com", "northwind.onmicrosoft.com.evil.example", "onmicrosoft.com", "north wind.onmicrosoft.com"]
)
def test_tenant_must_end_in_onmicrosoft_com(logged_in, license_form, tenant):
    assert_refused(logged_in.post("/licenses", data=license_form(tenant=tenant)), "tenant", ".onmicrosoft.com")


@pytest.mark.parametrize(
    "field, message",
    [
        ("product", "Choose the product."),
        ("plan", "Enter the plan name"),
        ("seats", "Enter the number of licenses."),
        ("term", "Choose the subscription term."),
        ("expires_on", "Enter the expiration date"),
        ("tenant", "Enter your tenant's onmicrosoft.com domain."),
        ("contact_name", "Enter the name of the person to remind."),
        ("contact_email", "Enter the email address the reminder goes to."),
        ("proof", "Choose the proof of licensing document"),
    ],
)
@pytest.mark.parametrize("missing", [None, ""], ids=["absent", "empty"])
def test_every_field_is_required(logged_in, license_form, field, message, missing):
    value = missing if field != "proof" or missing is None else (io.BytesIO(b""), "")
    response = logged_in.post("/licenses", data=license_form(**{field: value}))
    assert_refused(response, field, message)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("product", "999", "Choose a product from the list."),
        ("product", "MS Office 365", "Choose a product from the list."),
        ("term", "Weekly", "Choose Yearly or Monthly from the list."),
    ],
)
def test_a_value_not_in_the_drop_down_is_refused(logged_in, license_form, field, value, message):
    assert_refused(logged_in.post("/licenses", data=license_form(**{field: value})), field, message)


def test_a_refused_form_keeps_what_was_typed(logged_in, license_form):
    response = logged_in.post("/licenses", data=license_form(term="Monthly", plan="Office 365 E5", contact_name="Ada"))
    page = page_of(response)
    assert page.find(id="plan")["value"] == "Office 365 E5"
    assert page.find(id="contact_name")["value"] == "Ada"
    assert page.find(id="term").find("option", selected=True)["value"] == "Monthly"


# --- The upload survives a refused form -------------------------------------------------------


def test_the_upload_is_kept_when_another_field_fails(logged_in, license_form, account, pdf, today):
    response = logged_in.post(
        "/licenses", data=license_form(expires_on="2001-01-01", proof=(io.BytesIO(pdf), "signed-proof.pdf"))
    )
    assert response.status_code == 422
    assert field_error(response, "proof") == ""
    page = page_of(response)
    assert "Kept from your last try: signed-proof.pdf" in text_of(page.find(class_="kept"))
    kept = page.find("input", attrs={"name": "kept_proof"})["value"]
    assert kept.isdigit()
    assert row_count(License) == 0

    fixed = license_form(proof=None, kept_proof=kept)
    assert logged_in.post("/licenses", data=fixed).status_code == 302
    (license,) = licenses_in_db(account)
    with db.database.connection_context():
        version = LicenseVersion.get_by_id(license.current_id)
        assert version.proof_id == int(kept)
        assert bytes(ProofDocument.get_by_id(version.proof_id).content) == pdf
        (uploaded,) = AuditEntry.select().where(AuditEntry.kind == "proof.uploaded")
    # The audit trail names the kept file as it would a new one.
    assert audit.values(uploaded.after) == {"file": "signed-proof.pdf", "bytes": len(pdf), "expires_on": fixed["expires_on"]}
    assert logged_in.get(f"/proofs/{kept}").data == pdf


def test_a_kept_proof_of_another_account_cannot_be_used(logged_in, license_form, make_account):
    other = make_account("Fabrikam")
    with db.database.connection_context():
        foreign = store_upload(Upload(demo_pdf("Fabrikam"), "application/pdf", "fabrikam-secret.pdf"), other, None)
    response = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=str(foreign.id)))
    assert_refused(response, "proof", "Choose the proof of licensing document")
    assert "fabrikam-secret.pdf" not in response.get_data(as_text=True)
    assert page_of(response).find("input", attrs={"name": "kept_proof"})["value"] == ""


def test_a_proof_already_used_by_a_license_cannot_be_kept_for_another(logged_in, license_form, account):
    existing = insert_license(account, "Office 365 E3", date(2099, 12, 31))
    with db.database.connection_context():
        used = LicenseVersion.get_by_id(existing.current_id).proof_id
    response = logged_in.post("/licenses", data=license_form(plan="Office 365 E5", proof=None, kept_proof=str(used)))
    assert response.status_code == 422
    assert "Choose the proof of licensing document" in field_error(response, "proof")
    assert row_count(License) == 1


@pytest.mark.parametrize("kept_proof", ["abc", "-1", "1 OR 1=1", "999999"])
def test_a_nonsense_kept_proof_is_no_file(logged_in, license_form, kept_proof):
    response = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=kept_proof))
    assert_refused(response, "proof", "Choose the proof of licensing document")


# --- Update (renewal) and history ------------------------------------------------------------


def test_update_form_is_prefilled_with_the_current_terms(logged_in, account):
    license = insert_license(account, "Office 365 E3", date(2099, 12, 31), seats=25,
                             contact=("Ada Admin", "ada@northwind.example"))
    response = logged_in.get(f"/licenses/{license.id}/update")
    assert response.status_code == 200
    page = page_of(response)
    assert page.find(id="seats")["value"] == "25"
    assert page.find(id="term").find("option", selected=True)["value"] == "Yearly"
    assert page.find(id="tenant")["value"] == "northwind.onmicrosoft.com"
    assert page.find(id="contact_name")["value"] == "Ada Admin"
    assert page.find(id="contact_email")["value"] == "ada@northwind.example"
    assert "Update Office 365 E3" in text_of(page.find("h2"))
    assert page.find(id="plan") is None and page.find(id="product") is None  # fixed, not editable
    form = page.find("form", action=f"/licenses/{license.id}/update")
    assert form is not None


def test_update_renews_and_keeps_the_history(logged_in, account, license_form, today):
    y1, y2 = today.year + 1, today.year + 2
    first_pdf, second_pdf = demo_pdf(f"Proof {y1}"), demo_pdf(f"Proof {y2} renewed")
    license = insert_license(account, "Office 365 E3", date(y1, 12, 31), seats=25, proof=first_pdf,
                             proof_name=f"e3-{y1}.pdf")
    first_version = license.current_id

    response = logged_in.post(
        f"/licenses/{license.id}/update",
        data={
            "seats": "30", "term": "Yearly", "expires_on": f"{y2}-12-31", "tenant": "northwind.onmicrosoft.com",
            "contact_name": "Ada Admin", "contact_email": "ada@northwind.example",
            "proof": (io.BytesIO(second_pdf), f"e3-{y2}.pdf"),
            # Not part of an update: the product and plan stay what they were.
            "plan": "Office 365 E5", "product": "999",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#licenses-panel"
    assert f"BYOL is valid until 31 Dec {y2}" in byol_text(response)

    with db.database.connection_context():
        renewed = License.get_by_id(license.id)
        versions = list(LicenseVersion.select().where(LicenseVersion.license == license.id).order_by(LicenseVersion.id))
        assert renewed.current_id != first_version and renewed.current_id == versions[-1].id
        assert renewed.plan == "Office 365 E3" and renewed.product.name == "MS Office 365"
        assert [(v.expires_on, v.seats, v.contact_email) for v in versions] == [
            (date(y1, 12, 31), 25, "pat@northwind.example"),
            (date(y2, 12, 31), 30, "ada@northwind.example"),
        ]
        proofs = [v.proof_id for v in versions]
    assert row_count(License) == 1

    history = logged_in.get(f"/licenses/{license.id}")
    assert history.status_code == 200
    rows = page_of(history).find("tbody").find_all("tr")
    assert [(f"31 Dec {y2}" in text_of(r), f"31 Dec {y1}" in text_of(r)) for r in rows] == [(True, False), (False, True)]
    assert f"e3-{y2}.pdf" in text_of(rows[0]) and f"e3-{y1}.pdf" in text_of(rows[1])
    assert "current" in text_of(rows[0]) and "current" not in text_of(rows[1]).replace("current-version", "")
    for row, proof_id in zip(rows, reversed(proofs)):
        assert row.find("a")["href"] == f"/proofs/{proof_id}"
    assert logged_in.get(f"/proofs/{proofs[0]}").data == first_pdf
    assert logged_in.get(f"/proofs/{proofs[1]}").data == second_pdf


def test_update_refuses_a_past_date_and_changes_nothing(logged_in, account, today):
    license = insert_license(account, "Office 365 E3", date(2099, 12, 31))
    response = logged_in.post(
        f"/licenses/{license.id}/update",
        data={
            "seats": "30", "term": "Yearly", "expires_on": (today - timedelta(days=3)).isoformat(),
            "tenant": "northwind.onmicrosoft.com", "contact_name": "Ada", "contact_email": "ada@northwind.example",
            "proof": (io.BytesIO(demo_pdf("late")), "late.pdf"),
        },
    )
    assert response.status_code == 422
    assert "This date has passed" in field_error(response, "expires_on")
    assert "Kept from your last try: late.pdf" in text_of(page_of(response).find(class_="kept"))
    assert row_count(LicenseVersion) == 1
    with db.database.connection_context():
        assert License.get_by_id(license.id).current_id == license.current_id


def test_update_without_a_new_proof_is_refused(logged_in, account):
    license = insert_license(account, "Office 365 E3", date(2098, 12, 31))
    response = logged_in.post(
        f"/licenses/{license.id}/update",
        data={"seats": "30", "term": "Yearly", "expires_on": IN_TWO_YEARS, "tenant": "northwind.onmicrosoft.com",
              "contact_name": "Ada", "contact_email": "ada@northwind.example"},
    )
    assert response.status_code == 422
    assert "Choose the proof of licensing document" in field_error(response, "proof")
    assert row_count(LicenseVersion) == 1


# --- CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(csrf_app, user):
    """A client of an app with CSRF on, logged in as `user` through the real login form."""
    return log_in_with_csrf(csrf_app.test_client(), user.email)


def csrf_token_of(client):
    return page_of(client.get("/licenses")).find("meta", attrs={"name": "csrf-token"})["content"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_post_without_csrf_token_is_refused_and_saves_nothing(csrf_client, license_form, headers):
    response = csrf_client.post("/licenses", data=license_form(), headers=headers)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert "nothing was saved" in response.get_data(as_text=True)
    assert row_count(License) == 0 and row_count(ProofDocument) == 0


def test_post_with_a_wrong_csrf_token_is_refused(csrf_client, license_form):
    response = csrf_client.post("/licenses", data=license_form(csrf_token="forged"), headers={"X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert row_count(License) == 0


def test_htmx_post_with_the_token_only_in_the_header_is_accepted(csrf_client, license_form, account):
    token = csrf_token_of(csrf_client)
    response = csrf_client.post("/licenses", data=license_form(), headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#licenses-panel"
    assert len(licenses_in_db(account)) == 1


def test_plain_post_with_the_form_token_is_accepted(csrf_client, account):
    form_page = page_of(csrf_client.get("/licenses/new"))
    token = form_page.find("input", attrs={"name": "csrf_token"})["value"]
    with db.database.connection_context():
        product = Product.get(Product.name == "MS Office 365")
    response = csrf_client.post("/licenses", data={
        "csrf_token": token, "product": str(product.id), "plan": "Office 365 E3", "seats": "5", "term": "Yearly",
        "expires_on": IN_TWO_YEARS, "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat",
        "contact_email": "pat@northwind.example", "proof": (io.BytesIO(demo_pdf("x")), "x.pdf"),
    })
    assert response.status_code == 302
    assert len(licenses_in_db(account)) == 1


def test_update_post_without_csrf_token_is_refused(csrf_client, account):
    license = insert_license(account, "Office 365 E3", date(2098, 12, 31))
    response = csrf_client.post(
        f"/licenses/{license.id}/update",
        data={"seats": "30", "term": "Yearly", "expires_on": IN_TWO_YEARS, "tenant": "northwind.onmicrosoft.com",
              "contact_name": "Ada", "contact_email": "ada@northwind.example",
              "proof": (io.BytesIO(demo_pdf("x")), "x.pdf")},
    )
    assert response.status_code == 400
    assert row_count(LicenseVersion) == 1


# --- Query budget ----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "fragment"])
def test_the_tab_makes_the_same_few_queries_for_1_and_25_licenses(logged_in, account, headers, today):
    insert_license(account, "Plan 00", today + timedelta(days=400))
    with count_queries() as one:
        assert logged_in.get("/licenses", headers=headers).status_code == 200
    for n in range(1, 25):
        insert_license(account, f"Plan {n:02}", today + timedelta(days=n * 3), rejected="bad" if n == 7 else None)
    with count_queries() as many:
        response = logged_in.get("/licenses", headers=headers)
    assert response.status_code == 200
    assert len(page_of(response).find(id="license-table").find("tbody").find_all("tr")) == 25
    assert len(one) == len(many), (one, many)
    assert len(many) <= 6, many


# --- Tenant isolation ------------------------------------------------------------------------


def test_another_accounts_licenses_never_appear(logged_in, account, make_account, license_form):
    other = make_account("Fabrikam")
    foreign = insert_license(other, "Fabrikam Secret Plan", date(2099, 1, 1), contact=("Eve", "eve@fabrikam.example"))
    insert_license(account, "Office 365 E3", date(2099, 12, 31))
    for headers in ({}, HTMX):
        body = logged_in.get("/licenses", headers=headers).get_data(as_text=True)
        assert "Office 365 E3" in body
        assert "Fabrikam Secret Plan" not in body and "eve@fabrikam.example" not in body
        assert f"license-{foreign.id}" not in body
    with db.database.connection_context():
        foreign_proof = LicenseVersion.get_by_id(foreign.current_id).proof_id
    assert logged_in.get(f"/licenses/{foreign.id}").status_code == 404
    assert logged_in.get(f"/licenses/{foreign.id}/update").status_code == 404
    assert logged_in.get(f"/proofs/{foreign_proof}").status_code == 404
    response = logged_in.post(
        f"/licenses/{foreign.id}/update",
        data={"seats": "1", "term": "Yearly", "expires_on": IN_TWO_YEARS, "tenant": "x.onmicrosoft.com",
              "contact_name": "Mallory", "contact_email": "m@example.com", "proof": (io.BytesIO(demo_pdf("m")), "m.pdf")},
    )
    assert response.status_code == 404
    with db.database.connection_context():
        assert LicenseVersion.select().where(LicenseVersion.license == foreign.id).count() == 1
        assert ProofDocument.select().where(ProofDocument.account == account.id).count() == 1


def test_the_portal_never_reads_the_account_from_the_form(logged_in, license_form, account, make_account):
    other = make_account("Fabrikam")
    assert logged_in.post("/licenses", data=license_form(account=str(other.id), account_id=str(other.id))).status_code == 302
    with db.database.connection_context():
        assert License.select().where(License.account == other.id).count() == 0
        assert ProofDocument.select().where(ProofDocument.account == other.id).count() == 0
    assert len(licenses_in_db(account)) == 1
