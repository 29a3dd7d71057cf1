"""Active content in PDFs (JavaScript, actions, launch, embedded files) is found by the sandboxed reader,
recorded with the document, and shown to staff in the review queue and on the staff license page."""
import io

import pytest
from helpers import page_of
from pypdf import PdfWriter
from pypdf.actions import JavaScript

from webapp.cli.demo import demo_pdf, pdf_of
from webapp.extensions import db
from webapp.licenses.document_text import (
    ADDITIONAL_ACTIONS,
    EMBEDDED_FILE,
    JAVASCRIPT,
    LAUNCH,
    OPEN_ACTION,
    Limits,
    read_document,
)
from webapp.licenses.models import License, ProofDocument

LIMITS = Limits(pages=10, chars=100_000, seconds=30, memory_bytes=512 * 1024 * 1024)
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def pdf(catalog_extra=b"", page_extra=b"", more=()):
    """A one-page PDF with entries added to its catalog and page, and more objects after them."""
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R %s >>" % catalog_extra, PAGES,
                   PAGE.replace(b" >>", b" %s >>" % page_extra), *more])


def active(content):
    return read_document(content, "application/pdf", LIMITS).active


def test_a_plain_pdf_has_no_active_content():
    assert active(demo_pdf("Office 365 E3")) == ()


def test_opening_the_document_to_a_page_is_no_action():
    # [page /Fit]: where the document opens, which many ordinary PDFs say.
    assert active(pdf(b"/OpenAction [3 0 R /Fit]")) == ()


@pytest.mark.parametrize("content, expected", [
    (pdf(b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>"), (JAVASCRIPT, OPEN_ACTION)),
    (pdf(b"/OpenAction 4 0 R", more=[b"<< /S /JavaScript /JS 5 0 R >>", b"<< /Length 0 >>\nstream\n\nendstream"]),
     (JAVASCRIPT, OPEN_ACTION)),
    (pdf(b"/Names << /JavaScript 4 0 R >>", more=[b"<< /Names [(a) 5 0 R] >>", b"<< /S /JavaScript /JS (x) >>"]),
     (JAVASCRIPT,)),
    (pdf(page_extra=b"/AA << /O << /S /Launch /F (calc.exe) >> >>"), (LAUNCH, ADDITIONAL_ACTIONS)),
    (pdf(b"/Names << /EmbeddedFiles 4 0 R >>",
         more=[b"<< /Names [(a.exe) 5 0 R] >>", b"<< /Type /Filespec /F (a.exe) /EF << /F 6 0 R >> >>",
               b"<< /Type /EmbeddedFile /Length 2 >>\nstream\nMZ\nendstream"]), (EMBEDDED_FILE,)),
    # A name written with #xx escapes is the same name to a reader.
    (pdf(b"/OpenAction << /S /J#61vaScript /J#53 (x) >>"), (JAVASCRIPT, OPEN_ACTION)),
], ids=["javascript on opening", "javascript on opening, by reference", "document javascript",
        "launch on opening a page", "embedded file", "escaped names"])
def test_active_content_is_found(content, expected):
    assert active(content) == expected


def test_active_content_made_by_a_pdf_library_is_found():
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.add_open_action(JavaScript("app.alert('hello');"))
    writer.add_attachment("invoice.exe", b"MZ")
    out = io.BytesIO()
    writer.write(out)
    assert set(active(out.getvalue())) >= {JAVASCRIPT, EMBEDDED_FILE}


def test_a_pdf_the_parser_refuses_is_scanned_as_bytes():
    broken = b"%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (x) >> garbage \xff trailer <<>>"
    assert set(active(broken)) == {JAVASCRIPT, OPEN_ACTION}


SCRIPTED = pdf(b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>")
WARNING = "This PDF contains active content (JavaScript, an action on opening): open it with care."


def test_staff_are_warned_in_the_queue_and_on_the_license_page(customer, staff, license_form):
    response = customer.post("/licenses", data=license_form(proof=(io.BytesIO(SCRIPTED), "proof.pdf")))
    assert response.status_code == 302
    with db.database.connection_context():
        assert ProofDocument.get().active_content == "javascript,open_action"
        license_id = License.get().id
    queue = page_of(staff.get("/admin/reviews")).find(id="review-queue")
    assert WARNING in " ".join(queue.find(class_="active-content").get_text().split())
    page = page_of(staff.get(f"/admin/licenses/{license_id}"))
    assert WARNING in " ".join(page.find(class_="active-content").get_text().split())


def test_no_warning_for_a_plain_pdf(customer, staff, license_form):
    customer.post("/licenses", data=license_form())
    assert page_of(staff.get("/admin/reviews")).find(class_="active-content") is None
