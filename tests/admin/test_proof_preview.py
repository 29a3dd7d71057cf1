"""Staff see each proof inline: a preview image made in the sandboxed reader (a PDF's first page, an
image scaled down), kept with the document, served by a staff-only route; never the customer's file."""
import io

import pytest
from helpers import insert_license, page_of
from PIL import Image
from werkzeug.http import parse_options_header

from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.document_text import PREVIEW_HEIGHT, PREVIEW_WIDTH
from webapp.licenses.models import License, ProofDocument, ProofPreview

MALFORMED_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage \xff\xfe trailer <<>>"


def screenshot(width=2400, height=1500, image_format="PNG"):
    image = Image.new("RGB", (width, height), "white")
    out = io.BytesIO()
    image.save(out, image_format)
    return out.getvalue()


def upload(customer, license_form, content, name):
    response = customer.post("/licenses", data=license_form(proof=(io.BytesIO(content), name)))
    assert response.status_code == 302
    with db.database.connection_context():
        return ProofDocument.get().id


def preview_image(response):
    return Image.open(io.BytesIO(response.data))


def queue_document_cell(staff):
    return page_of(staff.get("/admin/reviews")).find(id="review-queue").find("td", class_="check-document")


def test_a_pdf_gets_its_first_page_as_a_bounded_png_shown_inline_to_staff(customer, staff, license_form):
    document_id = upload(customer, license_form, demo_pdf("Office 365 E3"), "proof.pdf")
    response = staff.get(f"/admin/proofs/{document_id}/preview")
    assert response.status_code == 200 and response.mimetype == "image/png"
    disposition, params = parse_options_header(response.headers["Content-Disposition"])
    assert (disposition, params["filename"]) == ("inline", f"preview-{document_id}.png")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    image = preview_image(response)
    # A letter page (612 x 792 points) at its largest scale, within the preview's bounds.
    assert image.format == "PNG" and image.size[0] <= PREVIEW_WIDTH and image.size[1] <= PREVIEW_HEIGHT
    assert image.size[0] == 1000 and abs(image.size[1] - 792 / 612 * 1000) <= 1
    img = queue_document_cell(staff).find("img")
    assert img["src"] == f"/admin/proofs/{document_id}/preview"
    assert (int(img["width"]), int(img["height"])) == image.size and img["alt"].startswith("Preview of the proof")


def test_an_image_is_scaled_down_in_its_own_format(customer, staff, license_form):
    document_id = upload(customer, license_form, screenshot(image_format="JPEG"), "products.jpg")
    response = staff.get(f"/admin/proofs/{document_id}/preview")
    assert response.mimetype == "image/jpeg"
    assert preview_image(response).size == (1000, 625)


def test_the_customers_pdf_stays_a_download(customer, staff, license_form):
    document_id = upload(customer, license_form, demo_pdf("Office 365 E3"), "proof.pdf")
    download = staff.get(f"/admin/proofs/{document_id}")
    assert parse_options_header(download.headers["Content-Disposition"])[0] == "attachment"
    assert download.data == demo_pdf("Office 365 E3")
    assert staff.get(f"/admin/proofs/{document_id}/preview").data != download.data


@pytest.mark.parametrize("content, name", [
    (MALFORMED_PDF, "broken.pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "broken.png"),
], ids=["malformed pdf", "broken png"])
def test_a_document_without_a_preview_says_so_and_its_route_is_404(customer, staff, license_form, content, name):
    document_id = upload(customer, license_form, content, name)
    cell = queue_document_cell(staff)
    assert cell.find("img") is None and "No preview" in cell.get_text()
    assert staff.get(f"/admin/proofs/{document_id}/preview").status_code == 404


def test_a_document_stored_before_previews_gets_one_at_its_first_view_not_from_the_queue(staff, account):
    license = insert_license(account)  # stored by the store directly: never read, no preview yet
    with db.database.connection_context():
        document_id = License.get_by_id(license.id).current.proof_id
        assert not ProofPreview.select().exists()
    # The queue links the preview but makes none: a page view never starts a reading process.
    assert queue_document_cell(staff).find("img")["src"] == f"/admin/proofs/{document_id}/preview"
    with db.database.connection_context():
        assert not ProofPreview.select().exists()
    assert staff.get(f"/admin/proofs/{document_id}/preview").mimetype == "image/png"
    with db.database.connection_context():
        assert ProofPreview.get().media_type == "image/png"
    # Kept: the next view reads the stored one.
    assert staff.get(f"/admin/proofs/{document_id}/preview").status_code == 200
    with db.database.connection_context():
        assert ProofPreview.select().count() == 1


def test_the_staff_license_page_shows_the_preview(customer, staff, license_form):
    document_id = upload(customer, license_form, demo_pdf("Office 365 E3"), "proof.pdf")
    with db.database.connection_context():
        license_id = License.get().id
    img = page_of(staff.get(f"/admin/licenses/{license_id}")).find("a", class_="proof-preview").find("img")
    assert img["src"] == f"/admin/proofs/{document_id}/preview" and img["alt"] == "Preview of proof.pdf"


def test_a_missing_document_has_no_preview(staff):
    assert staff.get("/admin/proofs/999/preview").status_code == 404
    assert staff.get("/admin/proofs/99999999999/preview").status_code == 404


def test_customers_never_get_a_preview_of_any_account(customer, client, license_form, make_account, make_user,
                                                      login, app):
    document_id = upload(customer, license_form, demo_pdf("Office 365 E3"), "proof.pdf")
    other = app.test_client()
    login(other, make_user("kim@contoso.example", account=make_account("Contoso")).email)
    for someone in (customer, other, app.test_client()):
        response = someone.get(f"/admin/proofs/{document_id}/preview")
        assert response.status_code in (302, 403) and not response.data.startswith(b"\x89PNG")
    # Nor does the customer's own history page show one.
    with db.database.connection_context():
        license_id = License.get().id
    assert page_of(customer.get(f"/licenses/{license_id}/history")).find("a", class_="proof-preview") is None
