"""What the Add License and Update forms tell the user: a way back from a too-large upload, date messages
worded like the date picker, and no stale success message above a form's errors."""
import io
from datetime import timedelta

import pytest
from helpers import insert_license, page_of, text_of

from config import TestConfig
from webapp import create_app
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion

HTMX = {"HX-Request": "true"}


# --- a too-large upload without JavaScript --------------------------------------------------


@pytest.fixture
def small_client(app, database_url, user, login):
    small = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, UPLOAD_MAX_BYTES=2048)
    client = small.test_client()
    login(client, user.email)
    return client


def too_large():
    """A proof past the request limit (UPLOAD_MAX_BYTES + 256 KB)."""
    return io.BytesIO(b"%PDF-" + b"x" * 300 * 1024), "proof.pdf"


def test_a_too_large_upload_without_javascript_links_back_to_its_form(small_client, license_form, account):
    response = small_client.post("/licenses", data=license_form(proof=too_large()))
    assert response.status_code == 413
    page = page_of(response)
    assert "at most 2 KB" in text_of(response)
    back = page.find("a", string="Back to the form")
    assert back is not None and back["href"] == "/licenses/new"
    assert small_client.get(back["href"]).status_code == 200

    license = insert_license(account)
    response = small_client.post(f"/licenses/{license.id}/update", data=license_form(proof=too_large()))
    assert response.status_code == 413
    assert page_of(response).find("a", string="Back to the form")["href"] == f"/licenses/{license.id}/update"


def test_a_too_large_upload_with_htmx_keeps_the_form_and_needs_no_link(small_client, license_form):
    response = small_client.post("/licenses", data=license_form(proof=too_large()), headers=HTMX)
    assert response.status_code == 413
    assert response.headers["HX-Retarget"] == "#messages"
    assert "at most 2 KB" in text_of(response)
    assert page_of(response).find("a", string="Back to the form") is None


# --- dates worded like the date picker ----------------------------------------------------------


def expiry_error(response):
    box = page_of(response).find(id="expires_on-error")
    return " ".join(box.get_text(" ").split()) if box else ""


def test_a_missing_date_is_asked_for_without_a_pattern(logged_in, license_form):
    response = logged_in.post("/licenses", data=license_form(expires_on=""))
    assert response.status_code == 422
    assert expiry_error(response) == "Enter the expiration date shown in Office 365."


@pytest.mark.parametrize("written", ["{d.day} {d:%B %Y}", "{d.day} {d:%b %Y}", "{d:%B} {d.day}, {d.year}"])
def test_a_date_written_out_is_read_where_there_is_no_picker(logged_in, license_form, account, today, written):
    expires_on = today + timedelta(days=100)
    response = logged_in.post("/licenses", data=license_form(expires_on=written.format(d=expires_on)))
    assert response.status_code == 302
    with db.database.connection_context():
        (version,) = LicenseVersion.select().join(License).where(License.account == account.id)
    assert version.expires_on == expires_on


def test_a_refused_form_gives_the_date_back_in_the_pickers_format(logged_in, license_form, today):
    expires_on = today + timedelta(days=100)
    response = logged_in.post(
        "/licenses", data=license_form(expires_on=f"{expires_on.day} {expires_on:%B %Y}", seats="0")
    )
    assert response.status_code == 422
    assert page_of(response).find(id="expires_on")["value"] == expires_on.isoformat()


# --- no stale success message ------------------------------------------------------------------


def test_a_form_with_errors_empties_the_old_success_message(logged_in, license_form):
    saved = logged_in.post("/licenses", data=license_form(), headers=HTMX)
    assert "Office 365 E3 was added." in text_of(saved)

    opened = logged_in.get("/licenses/new", headers=HTMX)
    refused = logged_in.post("/licenses", data=license_form(plan="Office 365 E5", seats="0"), headers=HTMX)
    assert refused.status_code == 422
    for response in (opened, refused):
        messages = page_of(response).find(id="messages")
        assert messages is not None and messages["hx-swap-oob"] == "true"
        assert messages.get_text().strip() == ""

    # Without htmx the form is a page of its own: one messages box, not swapped out of band.
    page = page_of(logged_in.post("/licenses", data=license_form(plan="Office 365 E5", seats="0")))
    (box,) = page.find_all(id="messages")
    assert not box.has_attr("hx-swap-oob")
