"""Numbers and names from outside: ids no database column can hold give 404 or 422, never 500, and a
proof downloads under a name whose extension follows its real type."""
import io
import re

import pytest
from helpers import insert_license, page_of

from webapp.core.row_ids import MAX_ROW_ID, parse_row_id
from webapp.extensions import db
from webapp.licenses.models import License, ProofDocument
from webapp.licenses.proofs import served_name

IMPOSSIBLE_IDS = [
    "9223372036854775808",  # one past SQLite's and PostgreSQL's 64-bit integers
    str(2**63 - 1),
    str(MAX_ROW_ID + 1),  # one past PostgreSQL's SERIAL
    str(10**23),
    "²",  # str.isdigit() says yes, int() says no
    "١",  # an Arabic-Indic digit: int() reads it as 1
    "-1",
    "0",
    "1e3",
]

CUSTOMER_GETS = ["/licenses/{}", "/licenses/{}/update", "/proofs/{}"]
ADMIN_GETS = ["/admin/accounts/{}", "/admin/licenses/{}", "/admin/proofs/{}"]
ADMIN_POSTS = [
    ("/admin/accounts/{}/status", {"status": "suspended"}),
    ("/admin/accounts/{}/enrollment", {"enrollment": "subscription"}),
    ("/admin/users/{}/authorization", {"authorization": "authorized"}),
    ("/admin/versions/{}/review", {"decision": "accepted"}),
]


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    login(client, admin.email)
    return client


@pytest.mark.parametrize("row_id", IMPOSSIBLE_IDS)
def test_an_id_no_row_can_have_is_not_found_on_every_route(logged_in, staff, row_id, license_form):
    for path in CUSTOMER_GETS:
        assert logged_in.get(path.format(row_id)).status_code == 404, path
    update = logged_in.post(f"/licenses/{row_id}/update", data=license_form())
    assert update.status_code == 404
    for path in ADMIN_GETS:
        assert staff.get(path.format(row_id)).status_code == 404, path
    for path, form in ADMIN_POSTS:
        assert staff.post(path.format(row_id), data=form).status_code == 404, path


def test_the_largest_possible_id_is_looked_up_and_not_found(logged_in, staff):
    assert logged_in.get(f"/licenses/{MAX_ROW_ID}").status_code == 404
    assert staff.get(f"/admin/accounts/{MAX_ROW_ID}").status_code == 404


def test_real_ids_still_work_with_leading_zeros_or_not(logged_in, account):
    license = insert_license(account)
    assert logged_in.get(f"/licenses/{license.id}").status_code == 200
    assert logged_in.get(f"/licenses/000{license.id}").status_code == 200


@pytest.mark.parametrize("kept", IMPOSSIBLE_IDS + ["", " ", "7 ", "0x1", "1.0"])
def test_an_impossible_kept_proof_is_no_kept_proof(logged_in, license_form, account, kept):
    without_file = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=kept))
    assert without_file.status_code == 422
    assert "Choose the proof of licensing document" in page_of(without_file).find(id="proof-error").get_text()
    assert page_of(without_file).find("input", attrs={"name": "kept_proof"})["value"] == ""

    with_file = logged_in.post("/licenses", data=license_form(kept_proof=kept))
    assert with_file.status_code == 302
    with db.database.connection_context():
        assert [lic.plan for lic in License.select().where(License.account == account.id)] == ["Office 365 E3"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1), ("0042", 42), (str(MAX_ROW_ID), MAX_ROW_ID), (str(MAX_ROW_ID + 1), None), ("²", None),
     ("١", None), ("-3", None), ("", None), (None, None), ("1" * 11, None)],
)
def test_parse_row_id(value, expected):
    assert parse_row_id(value) == expected


# --- the served file name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "media_type", "served"),
    [
        ("proof.html", "application/pdf", "proof.pdf"),
        ("proof.PDF", "application/pdf", "proof.PDF"),
        ("proof", "application/pdf", "proof.pdf"),
        ("scan.jpeg", "image/jpeg", "scan.jpeg"),
        ("scan.png", "image/jpeg", "scan.jpg"),
        ("Contoso Ltd. proof", "image/png", "Contoso Ltd. proof.png"),
        ("e3.2026.exe", "image/png", "e3.2026.png"),
    ],
)
def test_served_name_follows_the_detected_type(original, media_type, served):
    assert served_name(original, media_type) == served


def download_name(response):
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    return re.search(r'filename="?([^";]+)"?', disposition).group(1)


def test_a_pdf_uploaded_as_html_downloads_as_pdf_for_customer_and_staff(logged_in, staff, license_form, account, pdf):
    response = logged_in.post("/licenses", data=license_form(proof=(io.BytesIO(pdf), "proof.html")))
    assert response.status_code == 302
    with db.database.connection_context():
        document = ProofDocument.get(ProofDocument.account == account.id)
    assert (document.original_name, document.media_type) == ("proof.html", "application/pdf")

    for client, path in ((logged_in, f"/proofs/{document.id}"), (staff, f"/admin/proofs/{document.id}")):
        download = client.get(path)
        assert download.status_code == 200
        assert download.mimetype == "application/pdf"
        assert download_name(download) == "proof.pdf"
        assert download.data == pdf
