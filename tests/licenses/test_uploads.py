"""Hostile and odd uploads through POST /licenses: refused cleanly with nothing half-saved, or stored
safely and sent back as an attachment with the type its content has; every proof link on the pages is a
download that htmx does not boost."""
import hashlib
import io
import struct
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import PASSWORD
from helpers import insert_license, page_of
from werkzeug.http import parse_options_header

from config import TestConfig
from webapp import create_app
from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion, ProofDocument

HTMX = {"HX-Request": "true"}
SMALL_LIMIT = 2048


def png_bytes():
    """A real 1×1 PNG."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes():
    """Bytes that open like a JFIF JPEG (start-of-image, APP0 JFIF segment) and close with end-of-image."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\x00" * 64 + b"\xff\xd9"


HTML_AS_PDF = b"<html><body><script>fetch('/licenses',{method:'POST'})</script></body></html>"
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
)


def proof_error(response):
    box = page_of(response).find(id="proof-error")
    return "" if box is None or box.has_attr("hidden") else " ".join(box.get_text(" ").split())


def counts():
    """(proof documents, licenses, license versions) in the database."""
    with db.database.connection_context():
        return ProofDocument.select().count(), License.select().count(), LicenseVersion.select().count()


def stored_documents():
    with db.database.connection_context():
        return list(ProofDocument.select().order_by(ProofDocument.id))


def upload(client, license_form, content, name, content_type=None, headers=None, **changes):
    file = (io.BytesIO(content), name, content_type) if content_type else (io.BytesIO(content), name)
    return client.post("/licenses", data=license_form(proof=file, **changes), headers=headers or {})


# --- Refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, name, content_type",
    [
        (HTML_AS_PDF, "proof.pdf", "application/pdf"),
        (SVG_WITH_SCRIPT, "proof.svg", "image/svg+xml"),
        (SVG_WITH_SCRIPT, "proof.png", "image/png"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "proof.gif", "image/gif"),
        (b"PK\x03\x04" + b"\x00" * 40, "proof.docx", None),
        (b"  %PDF-1.4 but not at the start", "proof.pdf", "application/pdf"),
    ],
    ids=["html-as-pdf", "svg", "svg-as-png", "gif", "zip", "pdf-marker-not-leading"],
)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_content_that_is_not_pdf_png_or_jpeg_is_refused(logged_in, license_form, content, name, content_type, headers):
    response = upload(logged_in, license_form, content, name, content_type, headers)
    assert response.status_code == 422
    assert "not a PDF, PNG or JPEG" in proof_error(response)
    assert counts() == (0, 0, 0)
    assert ("<html" in response.get_data(as_text=True)) == (not headers)
    # The refused bytes are never echoed back into the page.
    assert b"<script>" not in response.data


def test_an_empty_file_is_refused(logged_in, license_form):
    response = upload(logged_in, license_form, b"", "proof.pdf", "application/pdf")
    assert response.status_code == 422
    assert "The file is empty" in proof_error(response)
    assert counts() == (0, 0, 0)


def test_a_refused_upload_with_other_errors_saves_nothing(logged_in, license_form):
    response = upload(logged_in, license_form, HTML_AS_PDF, "proof.pdf", term="Monthly", seats="0")
    assert response.status_code == 422
    assert proof_error(response)
    assert counts() == (0, 0, 0)


@pytest.fixture
def small_client(app, database_url, user, login):
    """A client of an app whose proof limit is 2 KB, logged in as the authorized user."""
    small = create_app(
        TestConfig,
        DATABASE_URL=database_url,
        WTF_CSRF_ENABLED=False,
        UPLOAD_MAX_BYTES=SMALL_LIMIT,
    )
    client = small.test_client()
    login(client, user.email)
    return client


def padded_pdf(size):
    return demo_pdf("padded")[:size].ljust(size, b"\n")


def test_a_file_at_the_limit_is_accepted(small_client, license_form):
    response = upload(small_client, license_form, padded_pdf(SMALL_LIMIT), "proof.pdf")
    assert response.status_code == 302
    (document,) = stored_documents()
    assert document.size == SMALL_LIMIT


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_file_just_over_the_limit_is_refused_with_a_field_message(small_client, license_form, headers):
    response = upload(small_client, license_form, padded_pdf(SMALL_LIMIT + 1), "proof.pdf", headers=headers)
    assert response.status_code == 422
    message = proof_error(response)
    assert "larger than 2 KB" in message and "smaller" in message
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_body_over_the_request_limit_gets_a_413_page(small_client, license_form, headers):
    response = upload(small_client, license_form, padded_pdf(300 * 1024), "proof.pdf", headers=headers)
    assert response.status_code == 413
    text = " ".join(page_of(response).get_text(" ").split())
    assert "The upload is too large" in text
    assert "at most 2 KB" in text and "Nothing was saved" in text
    assert ("<html" in response.get_data(as_text=True)) == (not headers)
    assert counts() == (0, 0, 0)


def test_a_body_over_the_request_limit_gets_a_413_with_csrf_on(app, database_url, user, license_form):
    csrf_app = create_app(
        TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=True,
        UPLOAD_MAX_BYTES=SMALL_LIMIT,
    )
    client = csrf_app.test_client()
    token = page_of(client.get("/login")).find("meta", attrs={"name": "csrf-token"})["content"]
    assert client.post("/login", data={"email": user.email, "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    response = upload(client, license_form, padded_pdf(300 * 1024), "proof.pdf", csrf_token=token)
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)
    assert counts() == (0, 0, 0)


def test_the_default_limit_is_10_mb(app):
    assert app.config["UPLOAD_MAX_BYTES"] == 10 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["UPLOAD_MAX_BYTES"] + 256 * 1024


# --- Stored safely -------------------------------------------------------------------------


def download(client, document):
    response = client.get(f"/proofs/{document.id}")
    assert response.status_code == 200
    return response


def disposition(response):
    kind, options = parse_options_header(response.headers["Content-Disposition"])
    return kind, options.get("filename")


def multipart(fields, raw_filename, content):
    """A multipart body with the file name written into the part header exactly as given.

    The test client writes file names unescaped; this is how a browser or a hostile client
    puts quotes and backslashes on the wire (as a quoted-string).
    """
    boundary = "PortalTestBoundary7MA4YWxkTrZu0gW"
    body = b""
    for key, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="proof"; filename="{raw_filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    "raw_filename, stored",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/etc/passwd", "passwd"),
        (r"C:\\Users\\pat\\..\\..\\proof.pdf", "proof.pdf"),
        ("..", "proof"),
        ("../", "proof"),
        (".htaccess.pdf", "htaccess.pdf"),
        ("proof\x1b[2J\x07\x00.pdf", "proof[2J.pdf"),
        (r'a\"; filename=\"evil.html.pdf', 'a"; filename="evil.html.pdf'),
    ],
)
def test_a_hostile_file_name_is_cleaned_and_still_works(logged_in, license_form, pdf, raw_filename, stored):
    body, content_type = multipart(license_form(proof=None), raw_filename, pdf)
    assert logged_in.post("/licenses", data=body, content_type=content_type).status_code == 302
    (document,) = stored_documents()
    assert document.original_name == stored
    response = download(logged_in, document)
    # Downloaded with the extension of what it is: "passwd" that is a PDF comes back as "passwd.pdf".
    assert disposition(response) == ("attachment", stored if stored.endswith(".pdf") else f"{stored}.pdf")
    assert response.data == pdf
    assert stored in page_of(logged_in.get("/licenses")).find(id="license-table").get_text()


def test_a_unicode_file_name_is_stored_as_given(logged_in, license_form, pdf):
    name = "Lizenznachweis – München 証明.pdf"
    assert upload(logged_in, license_form, pdf, name).status_code == 302
    (document,) = stored_documents()
    assert document.original_name == name
    response = download(logged_in, document)
    assert disposition(response) == ("attachment", name)
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].isascii()
    assert name in logged_in.get("/licenses").get_data(as_text=True)


def test_a_very_long_file_name_is_cut_keeping_its_end(logged_in, license_form, pdf):
    name = "x" * 400 + ".pdf"
    assert upload(logged_in, license_form, pdf, name).status_code == 302
    (document,) = stored_documents()
    assert len(document.original_name) == 255 and document.original_name.endswith("x.pdf")


@pytest.mark.parametrize(
    "content, name, declared, media_type, served",
    [
        (png_bytes(), "screenshot.png", "image/png", "image/png", "screenshot.png"),
        (jpeg_bytes(), "screenshot.jpg", "image/jpeg", "image/jpeg", "screenshot.jpg"),
        (demo_pdf("named txt"), "proof.txt", "text/plain", "application/pdf", "proof.pdf"),
        (jpeg_bytes(), "scan.pdf", "application/pdf", "image/jpeg", "scan.jpg"),
        (png_bytes(), "proof.html", "text/html", "image/png", "proof.png"),
    ],
    ids=["png", "jpeg", "pdf-named-txt", "jpeg-named-pdf", "png-named-html"],
)
def test_the_content_decides_the_type(logged_in, license_form, content, name, declared, media_type, served):
    assert upload(logged_in, license_form, content, name, declared).status_code == 302
    (document,) = stored_documents()
    assert (document.media_type, document.original_name) == (media_type, name)
    assert counts() == (1, 1, 1)

    response = download(logged_in, document)
    assert response.mimetype == media_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The name is stored as uploaded; the download's extension follows the content.
    assert disposition(response) == ("attachment", served)
    assert response.data == content


def test_the_stored_document_has_its_sha256_size_and_bytes(logged_in, license_form, pdf, user, account):
    assert upload(logged_in, license_form, pdf, "proof.pdf").status_code == 302
    (document,) = stored_documents()
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert document.size == len(pdf)
    assert bytes(document.content) == pdf
    assert document.account_id == account.id and document.uploaded_by_id == user.id
    with db.database.connection_context():
        (version,) = LicenseVersion.select()
    assert version.proof_id == document.id

    response = download(logged_in, document)
    assert response.data == pdf
    assert response.headers["Content-Type"] == "application/pdf"
    assert "no-store" in response.headers["Cache-Control"]


def test_binary_content_survives_byte_for_byte(logged_in, license_form):
    # Every byte value, NULs included, after a valid PNG signature.
    content = png_bytes() + bytes(range(256)) * 4
    assert upload(logged_in, license_form, content, "all-bytes.png").status_code == 302
    (document,) = stored_documents()
    assert download(logged_in, document).data == content
    assert document.sha256 == hashlib.sha256(content).hexdigest()


def test_another_accounts_document_is_not_found(logged_in, client, license_form, make_account, make_user, login, pdf):
    assert upload(logged_in, license_form, pdf, "northwind.pdf").status_code == 302
    (document,) = stored_documents()
    fabrikam = make_account("Fabrikam")
    make_user("kim@fabrikam.example", account=fabrikam)
    other = client.application.test_client()
    login(other, "kim@fabrikam.example")
    response = other.get(f"/proofs/{document.id}")
    assert response.status_code == 404
    assert pdf not in response.data and "northwind.pdf" not in response.get_data(as_text=True)
    assert other.get("/proofs/999999").status_code == 404


def test_an_anonymous_download_goes_to_login(client, logged_in, license_form, pdf):
    assert upload(logged_in, license_form, pdf, "proof.pdf").status_code == 302
    (document,) = stored_documents()
    anonymous = client.application.test_client()
    response = anonymous.get(f"/proofs/{document.id}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == [f"/proofs/{document.id}"]
    assert pdf not in response.data


def test_every_proof_link_is_a_download_that_htmx_does_not_boost(logged_in, staff, account):
    license = insert_license(account)
    pages = [
        (logged_in, "/licenses"), (logged_in, f"/licenses/{license.id}"),
        (staff, f"/admin/accounts/{account.id}"), (staff, f"/admin/licenses/{license.id}"),
    ]
    for client, path in pages:
        # The staff pages' preview links open an image made for staff (tests/admin/test_proof_preview.py).
        links = [a for a in page_of(client.get(path)).find_all("a")
                 if "/proofs/" in a["href"] and not a["href"].endswith("/preview")]
        assert links, path
        for link in links:
            assert link.has_attr("download") and link["hx-boost"] == "false", (path, link)
            download = client.get(link["href"], headers={"HX-Request": "true", "HX-Boosted": "true"})
            assert download.status_code == 200
            assert download.headers["Content-Disposition"].startswith("attachment;")
