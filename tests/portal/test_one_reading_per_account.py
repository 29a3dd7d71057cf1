"""One customer's uploads cannot hold every worker: a form refused anyway reads no document, and an
account's documents are read one at a time, across workers (licenses.reading); meanwhile the form
says so and keeps the upload."""
import io

from helpers import page_of

from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.document_text import UNCHECKED
from webapp.licenses.models import ProofDocument
from webapp.licenses.reading import lease_length, release, take


def kept_document(response):
    kept = page_of(response).find("input", attrs={"name": "kept_proof"})["value"]
    with db.database.connection_context():
        return ProofDocument.get_by_id(int(kept))


def upload(name):
    return (io.BytesIO(demo_pdf(name)), name)


def test_a_form_refused_anyway_reads_no_document_and_the_valid_try_reads_it(logged_in, license_form):
    refused = logged_in.post("/licenses", data=license_form(proof=upload("e3.pdf"), expires_on="2001-01-01"))
    assert refused.status_code == 422
    document = kept_document(refused)
    assert (document.original_name, document.text_status) == ("e3.pdf", UNCHECKED)

    retry = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=str(document.id)))
    assert retry.status_code < 500
    with db.database.connection_context():
        assert ProofDocument.get_by_id(document.id).text_status != UNCHECKED


def test_while_another_document_of_the_account_is_read_the_form_says_so_and_keeps_the_upload(
        app, logged_in, license_form, account):
    with app.app_context(), db.database.connection_context():
        holder = take(account.id, lease_length(30))
    try:
        busy = logged_in.post("/licenses", data=license_form(proof=upload("busy.pdf")))
        assert busy.status_code == 422
        assert "Another upload of yours is being checked right now" in page_of(busy).get_text()
        document = kept_document(busy)
        assert (document.original_name, document.text_status) == ("busy.pdf", UNCHECKED)
        # The kept upload, sent again while the reading still goes on: the same answer, still kept.
        again = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=str(document.id)))
        assert again.status_code == 422
        assert "Another upload of yours is being checked right now" in page_of(again).get_text()
    finally:
        with app.app_context(), db.database.connection_context():
            release(account.id, holder)

    saved = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=str(document.id)))
    assert saved.status_code < 500
    with db.database.connection_context():
        assert ProofDocument.get_by_id(document.id).text_status != UNCHECKED


def test_another_account_reads_while_one_account_holds_its_lease(app, logged_in, license_form, account, make_account):
    other = make_account("Fabrikam")
    with app.app_context(), db.database.connection_context():
        holder = take(other.id, lease_length(30))
    try:
        response = logged_in.post("/licenses", data=license_form(proof=upload("mine.pdf")))
        assert "Another upload of yours" not in page_of(response).get_text()
        assert response.status_code < 500
    finally:
        with app.app_context(), db.database.connection_context():
            release(other.id, holder)
