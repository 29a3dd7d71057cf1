"""Uploads that no license uses: kept for the user's next try within an allowance, never left behind
by a refused Save where that can be avoided, and deleted by `flask purge-uploads` once old, but never
while any license version uses them."""
import io
import threading
import time
from datetime import timedelta

import pytest
from conftest import count_queries
from helpers import page_of

from webapp.cli.demo import demo_pdf
from webapp.core.clock import utcnow
from webapp.core.filters import filesize
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, ProofDocument
from webapp.licenses.proofs import Upload, purge_unattached, store_upload

DAY = timedelta(hours=24)


def proof_error(response):
    box = page_of(response).find(id="proof-error")
    return "" if box is None or box.has_attr("hidden") else " ".join(box.get_text(" ").split())


def kept_id(response):
    return page_of(response).find("input", attrs={"name": "kept_proof"})["value"]


def unattached(account, name="kept.pdf", age=timedelta(0), content=None):
    """An upload of the account that no license uses, as a failed form leaves it, uploaded `age` ago."""
    with db.database.connection_context():
        document = store_upload(Upload(content or demo_pdf(name), "application/pdf", name), account, None)
        ProofDocument.update(uploaded_at=utcnow() - age).where(ProofDocument.id == document.id).execute()
        return document


def age_every_document(age):
    with db.database.connection_context():
        ProofDocument.update(uploaded_at=utcnow() - age).execute()


def documents():
    """{id: original name} of every stored document."""
    with db.database.connection_context():
        return dict(ProofDocument.select(ProofDocument.id, ProofDocument.original_name).tuples())


def with_file(license_form, name, **changes):
    return license_form(proof=(io.BytesIO(demo_pdf(name)), name), **changes)


def refused_form(license_form, name, **changes):
    """A submission with a valid file whose other fields fail (the date has passed)."""
    return with_file(license_form, name, expires_on="2001-01-01", **changes)


def licenses():
    with db.database.connection_context():
        return list(License.select().order_by(License.id))


def terms(today):
    return {"seats": 5, "term": "Yearly", "expires_on": today + timedelta(days=200),
            "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat Doe", "contact_email": "pat@northwind.example"}


def purge(runner):
    result = runner.invoke(args=["purge-uploads"])
    assert result.exit_code == 0, result.output
    return result.output


# --- flask purge-uploads ---------------------------------------------------------------------


def test_purge_deletes_old_uploads_no_license_uses_and_nothing_else(
    app, runner, logged_in, license_form, account, make_account, make_user, login
):
    assert logged_in.post("/licenses", data=with_file(license_form, "first.pdf")).status_code == 302
    [license] = licenses()
    renewal = with_file(license_form, "renewed.pdf", product=None, plan=None)
    assert logged_in.post(f"/licenses/{license.id}/update", data=renewal).status_code == 302
    fabrikam = make_account("Fabrikam")
    make_user("kim@fabrikam.example", account=fabrikam)
    kim = app.test_client()
    login(kim, "kim@fabrikam.example")
    assert kim.post("/licenses", data=with_file(license_form, "fabrikam.pdf")).status_code == 302
    age_every_document(2 * DAY)
    unattached(account, "old-northwind.pdf", age=DAY + timedelta(minutes=1))
    unattached(fabrikam, "old-fabrikam.pdf", age=3 * DAY)
    unattached(account, "recent.pdf", age=DAY - timedelta(minutes=1))
    old_bytes = len(demo_pdf("old-northwind.pdf")) + len(demo_pdf("old-fabrikam.pdf"))

    output = purge(runner)

    assert output.startswith(f"purged 2 uploads ({filesize(old_bytes)}) that no license uses, uploaded before ")
    assert "(24 hours ago)" in output
    # The proof of both versions (current and history) and the other account's stay.
    assert sorted(documents().values()) == ["fabrikam.pdf", "first.pdf", "recent.pdf", "renewed.pdf"]
    history = page_of(logged_in.get(f"/licenses/{license.id}"))
    links = [a["href"] for a in history.select("a[href^='/proofs/']")]
    assert len(links) == 2 and all(logged_in.get(href).status_code == 200 for href in links)

    assert purge(runner).startswith("purged 0 uploads (0 bytes)")

    app.config["UPLOAD_ORPHAN_MAX_AGE_HOURS"] = 12
    assert purge(runner).startswith(f"purged 1 upload ({filesize(len(demo_pdf('recent.pdf')))})")
    assert sorted(documents().values()) == ["fabrikam.pdf", "first.pdf", "renewed.pdf"]


def test_a_document_a_save_attaches_while_the_purge_runs_is_not_deleted(app, account, user, office365, today):
    kept = unattached(account, "kept-for-save.pdf", age=2 * DAY)
    others = [unattached(account, f"old-{n}.pdf", age=2 * DAY) for n in range(3)]
    attached, release = threading.Event(), threading.Event()
    purged = {}

    def save():
        # The Save has checked the kept upload and inserted its version, and not yet committed.
        with app.app_context(), db.database.connection_context(), db.database.atomic():
            license_store.add_license(account, user.id, office365, "Office 365 E3", terms(today), kept)
            attached.set()
            release.wait(10)

    def run_purge():
        with app.app_context(), db.database.connection_context():
            purged["result"] = purge_unattached(utcnow() - DAY)

    saver, purger = threading.Thread(target=save), threading.Thread(target=run_purge)
    with count_queries() as queries:
        saver.start()
        assert attached.wait(10)
        purger.start()
        purger.join(0.5)  # PostgreSQL: done already, past the locked row; SQLite: waiting for the write lock
        release.set()
        saver.join(15)
        purger.join(15)

    assert sorted(documents()) == [kept.id]
    assert purged["result"] == (3, sum(len(demo_pdf(d.original_name)) for d in others))
    with db.database.connection_context():
        assert LicenseVersion.get().proof_id == kept.id
    # The DELETE itself asks again whether a version uses the document.
    deletes = [q for q in queries if 'DELETE FROM "proofdocument"' in q]
    assert deletes and all("NOT EXISTS" in q for q in deletes)


def test_two_purges_at_once_delete_each_upload_once(app, account, make_account):
    fabrikam = make_account("Fabrikam")
    for n in range(30):
        unattached(account if n % 2 else fabrikam, f"old-{n:02}.pdf", age=2 * DAY)
    total = sum(len(demo_pdf(f"old-{n:02}.pdf")) for n in range(30))
    start = threading.Barrier(2)
    results, errors = [], []

    def run_purge():
        try:
            with app.app_context(), db.database.connection_context():
                start.wait(5)
                results.append(purge_unattached(utcnow() - DAY, batch_size=4))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=run_purge) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    assert (sum(count for count, _ in results), sum(size for _, size in results)) == (30, total)
    assert documents() == {}


def test_a_save_whose_kept_upload_was_purged_meanwhile_saves_nothing(app, account, user, office365, today):
    document = unattached(account, "purged.pdf", age=2 * DAY)
    with app.app_context(), db.database.connection_context():
        kept = license_store.kept_proof(account.id, str(document.id))
        assert kept is not None
        purge_unattached(utcnow() - DAY)  # between the form's lookup and its Save
        with pytest.raises(license_store.ProofGone):
            license_store.add_license(account, user.id, office365, "Office 365 E3", terms(today), kept)
        assert License.select().count() == 0


# --- what a failed or refused form leaves behind ---------------------------------------------


def test_a_refused_duplicate_plan_keeps_no_upload(logged_in, license_form):
    assert logged_in.post("/licenses", data=with_file(license_form, "e3.pdf")).status_code == 302

    response = logged_in.post("/licenses", data=with_file(license_form, "again.pdf", plan="office 365  E3"))

    assert response.status_code == 422
    assert "already has a license for Office 365 E3" in page_of(response).find(id="plan-error").get_text()
    assert sorted(documents().values()) == ["e3.pdf"]


def test_the_loser_of_a_duplicate_plan_race_keeps_no_upload(logged_in, license_form, account, user, office365, today):
    responses = []
    post = threading.Thread(
        target=lambda: responses.append(logged_in.post("/licenses", data=with_file(license_form, "loser.pdf")))
    )
    # Another request adds the same plan and has not committed: the post finds no duplicate at first
    # and meets it at its own insert. Either way round the answer must be the same.
    with db.database.connection_context(), db.database.atomic():
        winner = store_upload(Upload(demo_pdf("winner"), "application/pdf", "winner.pdf"), account, None)
        license_store.add_license(account, user.id, office365, "Office 365 E3", terms(today), winner)
        post.start()
        # A real wait: the other request must reach its insert while this transaction is open (on SQLite
        # it waits at BEGIN IMMEDIATE, on PostgreSQL at the unique index); the race is what is tested.
        time.sleep(0.5)
    post.join(15)

    [response] = responses
    assert response.status_code == 422
    assert "already has a license for Office 365 E3" in page_of(response).find(id="plan-error").get_text()
    assert sorted(documents().values()) == ["winner.pdf"]


def test_a_new_file_replaces_the_one_kept_from_the_last_try(logged_in, license_form, account):
    first = logged_in.post("/licenses", data=refused_form(license_form, "first.pdf"))
    assert first.status_code == 422 and list(documents().values()) == ["first.pdf"]

    second = logged_in.post("/licenses", data=refused_form(license_form, "second.pdf", kept_proof=kept_id(first)))
    assert second.status_code == 422
    assert "Kept from your last try: second.pdf" in page_of(second).find(class_="kept").get_text()
    assert list(documents().values()) == ["second.pdf"]

    saved = logged_in.post("/licenses", data=with_file(license_form, "third.pdf", kept_proof=kept_id(second)))
    assert saved.status_code == 302
    assert list(documents().values()) == ["third.pdf"]


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_past_the_count_allowance_the_form_says_so_and_stores_nothing(
    app, logged_in, license_form, account, make_account, headers
):
    app.config["UPLOAD_ORPHAN_MAX_PER_ACCOUNT"] = 2
    fabrikam = make_account("Fabrikam")
    for n in range(3):
        unattached(fabrikam, f"fabrikam-{n}.pdf")  # another account's uploads do not count
    assert logged_in.post("/licenses", data=refused_form(license_form, "one.pdf")).status_code == 422
    assert logged_in.post("/licenses", data=refused_form(license_form, "two.pdf")).status_code == 422
    before = documents()

    response = logged_in.post("/licenses", data=refused_form(license_form, "three.pdf"), headers=headers)

    assert response.status_code == 422
    size = len(demo_pdf("one.pdf")) + len(demo_pdf("two.pdf"))
    assert proof_error(response) == (
        f"This file was not stored: your account already holds 2 uploads ({filesize(size)}) from forms that "
        "were not saved, the most it may keep. Correct the fields marked below, then choose the file again "
        "and Save. Uploads that no license uses are deleted after 24 hours."
    )
    assert documents() == before
    assert kept_id(response) == ""
    assert ("<html" in response.get_data(as_text=True)) == (not headers)

    # A Save with every field right still takes a new file: it is used at once, never left behind.
    assert logged_in.post("/licenses", data=with_file(license_form, "three.pdf")).status_code == 302
    assert "three.pdf" in documents().values()


def test_past_the_byte_allowance_the_form_says_so_and_stores_nothing(app, logged_in, license_form):
    app.config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"] = len(demo_pdf("one.pdf")) + 10
    assert logged_in.post("/licenses", data=refused_form(license_form, "one.pdf")).status_code == 422
    assert list(documents().values()) == ["one.pdf"]

    response = logged_in.post("/licenses", data=refused_form(license_form, "two.pdf"))

    assert response.status_code == 422
    assert proof_error(response).startswith("This file was not stored: your account already holds 1 upload (")
    assert list(documents().values()) == ["one.pdf"]


def test_the_defaults(app):
    assert app.config["UPLOAD_ORPHAN_MAX_AGE_HOURS"] == 24
    assert app.config["UPLOAD_ORPHAN_MAX_PER_ACCOUNT"] == 10
    assert app.config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"] == 5 * app.config["UPLOAD_MAX_BYTES"]
