"""The document check at the form (docs/domain.md, "Trust in proof"): where the saved document says
otherwise than what was entered, the customer is told field by field before anything is saved, and
corrects the entry, chooses another document, or saves anyway with a required note to staff. Each
path as a plain POST (no JavaScript) and as htmx sends it."""
import io
import re
from datetime import timedelta

import pytest
from helpers import insert_license, messages_of, page_of, text_of

from tests.licenses.test_proof_text import SCANNED_PDF, TENANT, proof_pdf
from webapp.core.filters import day
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion, ProofDocument

HTMX = {"HX-Request": "true"}
WAYS = {"without JavaScript": {}, "with htmx": HTMX}


@pytest.fixture(params=list(WAYS))
def way(request):
    return WAYS[request.param]


def expiry(today):
    return today + timedelta(days=200)


def matching_pdf(today, **changes):
    terms = {"plan": "Office 365 E3", "seats": 25, "expires": expiry(today).strftime("%d %B %Y"), "tenant": TENANT}
    return proof_pdf(**(terms | changes))


def post(client, url, form, content, headers, name="proof.pdf", **changes):
    data = form(proof=(io.BytesIO(content), name) if content is not None else None, **changes)
    return client.post(url, data=data, headers=headers)


def differences_of(response):
    box = page_of(response).find(id="proof-differences")
    return [" ".join(li.get_text(" ").split()) for li in box.find_all("li")] if box else []


def kept_id(response):
    return page_of(response).find("input", attrs={"name": "kept_proof"})["value"]


def saved_versions():
    with db.database.connection_context():
        return list(LicenseVersion.select().order_by(LicenseVersion.id))


def assert_saved(response, headers):
    if headers:
        assert response.status_code == 200 and response.headers["HX-Retarget"] == "#licenses-panel"
    else:
        assert response.status_code == 302


def after_save(client, response, headers):
    """The tab's text after a save: htmx gets the panel (and its message) in the response; a redirect's is on the tab."""
    return text_of(response) if headers else text_of(client.get("/licenses"))


def assert_layout(response, headers):
    """A plain POST gets the whole page back; htmx the form alone."""
    assert (page_of(response).find("html") is None) is bool(headers)


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"plan": "Office 365 E5"}, "The document says Office 365 E5; you entered Office 365 E3."),
        ({"seats": 20}, "The document says 20 licenses; you entered 25 licenses."),
        ({"expires": "31 December 2030"}, "The document says 31 December 2030; you entered {expiry}."),
        ({"tenant": "contoso.onmicrosoft.com"},
         f"The document says contoso.onmicrosoft.com; you entered {TENANT}."),
    ],
)
def test_a_mismatch_on_each_field_is_shown_at_the_form_and_nothing_is_saved(
        customer, license_form, today, way, changes, says):
    content = matching_pdf(today, **changes)
    response = post(customer, "/licenses", license_form, content, way, expires_on=expiry(today).isoformat())
    assert response.status_code == 422
    assert_layout(response, way)
    assert differences_of(response) == [says.format(expiry=day(expiry(today)))]
    page = page_of(response)
    # The note to staff appears only now, with its own button.
    assert page.find("textarea", attrs={"name": "staff_note"}) is not None
    assert page.find("button", attrs={"name": "save_anyway"}) is not None
    # The upload is kept for the next try; no license was saved.
    assert kept_id(response)
    assert saved_versions() == []


def test_a_matching_document_shows_no_note_and_saves(customer, license_form, today, way):
    response = post(customer, "/licenses", license_form, matching_pdf(today), way,
                    expires_on=expiry(today).isoformat())
    assert_saved(response, way)
    (version,) = saved_versions()
    assert not version.saved_anyway and version.customer_note == ""
    assert "matches what you entered; it is awaiting review" in after_save(customer, response, way)


def test_the_note_field_is_not_there_before_a_mismatch(customer):
    page = page_of(customer.get("/licenses/new"))
    assert page.find("textarea", attrs={"name": "staff_note"}) is None
    assert page.find("button", attrs={"name": "save_anyway"}) is None


def test_save_anyway_needs_a_note_then_saves_the_version_for_staff_to_accept(customer, license_form, today, way):
    first = post(customer, "/licenses", license_form, matching_pdf(today, plan="Office 365 E5"), way,
                 expires_on=expiry(today).isoformat())
    kept = kept_id(first)
    # Save anyway without a note: refused, the differences still shown, the upload still kept.
    empty = post(customer, "/licenses", license_form, None, way, expires_on=expiry(today).isoformat(),
                 kept_proof=kept, save_anyway="1", staff_note="  ")
    assert empty.status_code == 422
    assert "Write a note to staff" in " ".join(page_of(empty).find(id="staff_note-error").get_text(" ").split())
    assert differences_of(empty) == ["The document says Office 365 E5; you entered Office 365 E3."]
    assert kept_id(empty) == kept and saved_versions() == []

    saved = post(customer, "/licenses", license_form, None, way, expires_on=expiry(today).isoformat(),
                 kept_proof=kept, save_anyway="1", staff_note="We upgraded to E3 last week; the invoice is older.")
    assert_saved(saved, way)
    (version,) = saved_versions()
    assert version.saved_anyway and version.customer_note == "We upgraded to E3 last week; the invoice is older."
    assert str(version.proof_id) == kept
    text = after_save(customer, saved, way)
    assert "counts toward BYOL only once staff accept it" in text
    # Not counted until accepted: the only plan does not keep BYOL.
    assert "BYOL has lapsed" in text and "not counted until accepted" in text


def test_correcting_the_entry_saves_with_the_kept_upload(customer, license_form, today, way):
    first = post(customer, "/licenses", license_form, matching_pdf(today, seats=20), way,
                 expires_on=expiry(today).isoformat())
    kept = kept_id(first)
    corrected = post(customer, "/licenses", license_form, None, way, expires_on=expiry(today).isoformat(),
                     kept_proof=kept, seats="20")
    assert_saved(corrected, way)
    (version,) = saved_versions()
    assert version.seats == 20 and not version.saved_anyway and str(version.proof_id) == kept


def test_another_document_replaces_the_kept_one_and_saves(customer, license_form, today, way):
    first = post(customer, "/licenses", license_form, matching_pdf(today, tenant="contoso.onmicrosoft.com"), way,
                 expires_on=expiry(today).isoformat())
    kept = kept_id(first)
    again = post(customer, "/licenses", license_form, matching_pdf(today), way, name="right.pdf",
                 expires_on=expiry(today).isoformat(), kept_proof=kept)
    assert_saved(again, way)
    (version,) = saved_versions()
    assert not version.saved_anyway
    with db.database.connection_context():
        assert ProofDocument.get_by_id(version.proof_id).original_name == "right.pdf"
        # The upload it replaced is gone: nothing the customer chose to keep is left behind unused.
        assert ProofDocument.get_or_none(ProofDocument.id == int(kept)) is None


@pytest.mark.parametrize("content, name", [(SCANNED_PDF, "scan.pdf"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "photo.png")])
def test_a_document_with_nothing_to_check_is_saved_with_a_line_that_staff_will_check_it(
        customer, license_form, way, content, name):
    response = post(customer, "/licenses", license_form, content, way, name=name)
    assert_saved(response, way)
    assert len(saved_versions()) == 1
    text = after_save(customer, response, way)
    assert "could not be checked against what you entered" in text and "staff will check it" in text


def test_an_update_whose_document_names_another_plan_asks_and_can_be_saved_anyway(
        customer, license_form, account, today, way):
    license = insert_license(account, tenant=TENANT)
    url = f"/licenses/{license.id}/update"
    first = post(customer, url, license_form, matching_pdf(today, plan="Office 365 E1"), way,
                 expires_on=expiry(today).isoformat())
    assert first.status_code == 422
    assert differences_of(first) == ["The document says Office 365 E1; you entered Office 365 E3."]
    saved = post(customer, url, license_form, None, way, expires_on=expiry(today).isoformat(),
                 kept_proof=kept_id(first), save_anyway="1", staff_note="E1 and E3 are on one invoice.")
    assert_saved(saved, way)
    with db.database.connection_context():
        current = License.get_by_id(license.id).current
        assert current.saved_anyway and current.customer_note == "E1 and E3 are on one invoice."


def test_the_note_is_plain_text_and_bounded(customer, license_form, today):
    first = post(customer, "/licenses", license_form, matching_pdf(today, seats=30), {},
                 expires_on=expiry(today).isoformat())
    response = post(customer, "/licenses", license_form, None, {}, expires_on=expiry(today).isoformat(),
                    kept_proof=kept_id(first), save_anyway="1", staff_note="x" * 2001)
    assert response.status_code == 422 and saved_versions() == []
    response = post(customer, "/licenses", license_form, None, {}, expires_on=expiry(today).isoformat(),
                    kept_proof=kept_id(first), save_anyway="1", staff_note="bad \u202e note")
    assert response.status_code == 422 and saved_versions() == []


def test_the_review_queue_shows_the_customers_note_and_accepting_makes_it_count(customer, staff, license_form, today):
    first = post(customer, "/licenses", license_form, matching_pdf(today, seats=20), {},
                 expires_on=expiry(today).isoformat())
    post(customer, "/licenses", license_form, None, {}, expires_on=expiry(today).isoformat(),
         kept_proof=kept_id(first), save_anyway="1", staff_note="Five <b>more</b> seats were bought on 1 December.")
    (version,) = saved_versions()
    queue = staff.get("/admin/reviews")
    note = page_of(queue).find(id=f"review-{version.id}-note")
    assert "Saved anyway by the customer" in text_of(note)
    assert "Five <b>more</b> seats were bought on 1 December." in text_of(note)  # shown as text, escaped
    assert "<b>more</b>" not in queue.get_data(as_text=True)
    assert "BYOL has lapsed" in byol(customer)
    staff.post(f"/admin/reviews/{version.id}", data={"decision": "accepted", "reason": ""})
    assert byol(customer).startswith("BYOL is valid")
    row = page_of(customer.get("/licenses")).find(id=f"license-{version.license_id}")
    assert "Proof accepted" in text_of(row) and "current" in text_of(row)


def byol(client):
    return text_of(page_of(client.get("/licenses")).find(id="byol-status"))
