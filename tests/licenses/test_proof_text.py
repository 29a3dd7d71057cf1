"""The document is read: a PDF proof's text against the terms entered, shown in the review queue.

Three layers: the pure comparison (webapp.licenses.document_check), reading a PDF in a bounded child
process (webapp.licenses.document_text) on PDFs built here, and the route: upload through the portal
form, then see each field's state in /admin/reviews.
"""
import functools
import io
import time
import zlib
from datetime import date, timedelta

import pytest
from helpers import insert_license, page_of, text_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.cli.demo import pdf_of
from webapp.extensions import db
from webapp.licenses.document_check import (
    DIFFERENT,
    FOUND,
    NOT_FOUND,
    check_expiry,
    clean_text,
    compare_terms,
    find_seat_counts,
    normalise,
)
from webapp.licenses.document_text import (
    NO_TEXT,
    READ,
    TIMED_OUT,
    UNREADABLE,
    Limits,
    read_document,
)
from webapp.licenses.models import License, LicenseVersion, ProofCheck, ProofDocument
from webapp.licenses.proofs import Upload, with_text

TENANT = "northwind.onmicrosoft.com"
LIMITS = Limits(pages=10, chars=100_000, seconds=30, memory_bytes=512 * 1024 * 1024)
# The production limit; the hostile PDFs below must come back within it (plus the kill and reap).
HOSTILE_SECONDS = 2
SLACK = 1.5


# --- PDFs made here ------------------------------------------------------------------------------


def _pdf_string(text):
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("latin-1", "replace")


def text_stream(*lines):
    """A content stream that shows each line of text on its own line."""
    body = b"".join(b"(%s) Tj 0 -16 Td " % _pdf_string(line) for line in lines)
    return b"BT /F1 12 Tf 72 720 Td " + body + b"ET"


def build_pdf(streams, compress=False):
    """A valid PDF with one page per content stream, Helvetica inherited from the page tree."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        None,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for stream in streams:
        page = len(objects) + 1
        kids.append(b"%d 0 R" % page)
        objects.append(b"<< /Type /Page /Parent 2 0 R /Contents %d 0 R >>" % (page + 1))
        if compress:
            stream = zlib.compress(stream, 9)
            objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream))
        else:
            objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects[1] = (b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 612 792] "
                  b"/Resources << /Font << /F1 3 0 R >> >> >>" % (b" ".join(kids), len(streams)))
    return pdf_of(objects)


def proof_pdf(plan="Office 365 E3", seats=25, expires="31 March 2027", tenant=TENANT):
    """What an Office 365 admin portal printout says, as a one-page PDF."""
    return build_pdf([text_stream(
        "Microsoft 365 admin center - Your products",
        f"Subscription: {plan}",
        f"Licenses: {seats} assigned of {seats}",
        f"Tenant: {tenant}",
        f"Expires on {expires}",
    )])


SCANNED_PDF = build_pdf([b"q 612 0 0 792 0 0 cm 0.5 g 0 0 1 1 re f Q"])
# A PNG signature and nothing a PNG decoder can use.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# Made when a test first asks (3.5 s of compression): at import, every worker collecting the suite paid it.
HOSTILE_PDFS = {
    # pypdf spends minutes on 8 million text operators; compressed, they are 80 KB.
    "huge content stream": lambda: build_pdf([b"BT /F1 12 Tf " + b"(a) Tj " * 8_000_000 + b"ET"], compress=True),
    # Half a gigabyte of zeros in 500 KB.
    "decompression bomb": lambda: build_pdf([b"\0" * 500_000_000], compress=True),
    "deeply nested": lambda: build_pdf([b"BT [" + b"[" * 200_000 + b"]" * 200_000 + b"] TJ ET"]),
}


@functools.cache
def hostile_pdf(name):
    return HOSTILE_PDFS[name]()
MALFORMED_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage \xff\xfe trailer <<>>"


# --- the comparison, pure -----------------------------------------------------------------------


def compare(text, plan="Office 365 E3", seats=25, expires_on=date(2027, 3, 31), tenant=TENANT):
    return compare_terms(text, plan=plan, seats=seats, expires_on=expires_on, tenant=tenant)


def states(comparison):
    return {name: (field.state, field.seen) for name, field in comparison.fields()}


def test_a_document_that_says_what_was_entered_has_every_field_found():
    text = ("Subscription: Office 365 E3\nLicenses: 20 assigned of 25\n"
            "Tenant: NORTHWIND.onmicrosoft.com\nExpires on March 31, 2027")
    assert states(compare(text)) == {
        "plan": (FOUND, ""), "seats": (FOUND, ""), "expires_on": (FOUND, ""), "tenant": (FOUND, ""),
    }


def test_a_document_that_says_otherwise_shows_what_it_says():
    text = ("Subscription: Office 365 E5\n30 licenses\nTenant: contoso.onmicrosoft.com\n"
            "Renewal date: 31/03/2028")
    assert states(compare(text)) == {
        "plan": (DIFFERENT, "Office 365 E5"),
        "seats": (DIFFERENT, "30"),
        "expires_on": (DIFFERENT, "31/03/2028"),
        "tenant": (DIFFERENT, "contoso.onmicrosoft.com"),
    }


def test_a_document_that_names_none_of_it_has_nothing_found():
    result = states(compare("Thank you for your order. Printed 2026-12-01, page 1 of 2."))
    assert result == {name: (NOT_FOUND, "") for name in ("plan", "seats", "expires_on", "tenant")}


def test_full_width_digits_no_break_spaces_and_line_breaks_do_not_hide_a_match():
    text = "Office\n365\u00a0E3 — ２５ licenses — expires ３１ March ２０２７ — ｎｏｒｔｈｗｉｎｄ.onmicrosoft.com"
    assert {state for state, _ in states(compare(text)).values()} == {FOUND}


@pytest.mark.parametrize("written", ["1,000", "1.000", "1 000", "1\u00a0000", "1\u202f000", "1'000", "1000"])
def test_seats_with_thousands_separators(written):
    assert states(compare(f"{written} user licenses", seats=1000))["seats"] == (FOUND, "")


SEPARATORS = [",", ".", " ", "\u00a0", "\u202f", "'", ""]


@given(seats=st.integers(min_value=1, max_value=10_000_000), separator=st.sampled_from(SEPARATORS),
       words=st.sampled_from(["{n} licenses", "{n} user licenses", "Licenses: {n}", "Quantity: {n}", "{n} seats",
                              "Licenses: 3 assigned of {n}", "{n} Licences"]))
def test_any_seat_count_with_any_thousands_separator_is_found(seats, separator, words):
    written = f"{seats:,}".replace(",", separator)
    assert states(compare(words.format(n=written), seats=seats))["seats"] == (FOUND, ""), written


def test_numbers_that_are_not_seat_counts_are_not_taken_for_one():
    # "365" of the product name and the day of a date next to "licenses" are no count of licenses.
    assert find_seat_counts(normalise("Microsoft 365 users; licenses expire 31 March 2027")) == []
    assert states(compare("Microsoft 365 users", seats=365))["seats"] == (NOT_FOUND, "")


def test_a_date_not_labelled_as_the_expiration_is_not_reported_as_different():
    assert check_expiry("Invoice date 2026-12-01", date(2027, 3, 31)).state == NOT_FOUND
    assert check_expiry("Valid until 2027-04-30", date(2027, 3, 31)).state == DIFFERENT


def test_a_plan_that_is_part_of_a_longer_name_is_not_found():
    assert states(compare("Office 365 E35 Ultra", plan="Office 365 E3"))["plan"][0] != FOUND


def test_the_longest_tenant_a_document_can_name_is_shown_whole():
    longest = "a" * 63 + ".onmicrosoft.com"  # a DNS label is at most 63 characters
    assert states(compare(f"Tenant {longest}"))["tenant"] == (DIFFERENT, longest)
    assert states(compare(f"Tenant {'a' * 64}.onmicrosoft.com"))["tenant"] == (NOT_FOUND, "")


def ordinal(day):
    return "th" if 4 <= day <= 20 or day % 10 > 3 or day % 10 == 0 else {1: "st", 2: "nd", 3: "rd"}[day % 10]


DATE_FORMS = [
    lambda d: d.isoformat(),  # 2027-03-31
    lambda d: d.strftime("%d/%m/%Y"),  # 31/03/2027
    lambda d: d.strftime("%m/%d/%Y"),  # 03/31/2027
    lambda d: d.strftime("%d.%m.%Y"),  # 31.03.2027
    lambda d: f"{d.day}/{d.month}/{d.year}",  # 1/3/2027
    lambda d: d.strftime("%B ") + f"{d.day}, {d.year}",  # March 31, 2027
    lambda d: f"{d.day} " + d.strftime("%B %Y"),  # 31 March 2027
    lambda d: d.strftime("%b ") + f"{d.day} {d.year}",  # Mar 31 2027
    lambda d: d.strftime("%d-%b-%Y"),  # 31-Mar-2027
    lambda d: d.strftime("%A, %d %B %Y"),  # Wednesday, 31 March 2027
    lambda d: d.strftime("%b. ") + f"{d.day}{ordinal(d.day)}, {d.year}",  # Mar. 31st, 2027
    lambda d: d.strftime("%d %b %Y").upper(),  # 31 MAR 2027
]
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@pytest.mark.parametrize("form", range(len(DATE_FORMS)))
@given(expires_on=dates)
def test_any_date_in_each_supported_form_is_found(form, expires_on):
    written = DATE_FORMS[form](expires_on)
    assert check_expiry(normalise(f"Subscription ends {written}. Thank you."), expires_on).state == FOUND, written


@pytest.mark.parametrize("form", range(len(DATE_FORMS)))
@given(expires_on=dates, other=dates)
def test_another_labelled_date_in_each_form_is_different_and_shown(form, expires_on, other):
    written = DATE_FORMS[form](other)
    # 03/04/2027 may be either day; the document is given the benefit of the doubt.
    swapped = other.day <= 12 and date(other.year, other.day, other.month) == expires_on
    if other == expires_on or swapped:
        return
    result = check_expiry(normalise(f"Expiration date: {written}"), expires_on)
    assert result.state == DIFFERENT and result.seen and result.seen in written, written


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=2000))
def test_any_text_compares_without_error(text):
    result = compare(clean_text(text, 100_000))
    for _, field in result.fields():
        assert field.state in (FOUND, NOT_FOUND, DIFFERENT)
        assert len(field.seen) <= 80


def test_clean_text_drops_nul_bidi_controls_and_surrogates_and_caps_length():
    cleaned = clean_text("Office\x00 365\u202e E3\ud800 \u200bok", 100)
    assert cleaned == "Office  365 E3 ok"
    assert len(clean_text("x" * 500, 100)) == 100


@pytest.mark.parametrize("hostile", [
    "1" * 100_000, "1 " * 50_000, "1," * 50_000, "licenses " * 11_000, "31/" * 33_000, "Mar " * 25_000,
    "a." * 50_000 + "onmicrosoft.com", "\u202e" * 100_000, "Office 365 " * 9_000,
])
def test_hostile_text_of_100k_characters_compares_quickly(hostile):
    started = time.monotonic()
    compare(clean_text(hostile, 100_000), plan="Office 365 E3 " * 10)
    assert time.monotonic() - started < 2


# --- reading a PDF, bounded ----------------------------------------------------------------------


def test_the_text_of_a_pdf_is_read():
    read = read_document(proof_pdf(), "application/pdf", LIMITS)
    assert read.status == READ
    assert "Office 365 E3" in read.text and "Expires on 31 March 2027" in read.text and TENANT in read.text


def test_a_pdf_without_text_has_no_text_to_check():
    assert read_document(SCANNED_PDF, "application/pdf", LIMITS).status == NO_TEXT


def test_a_pdf_whose_text_is_only_control_characters_has_no_text_to_check():
    read = with_text(Upload(build_pdf([text_stream("\x01\x02\x03 \x7f")]), "application/pdf", "a.pdf"), LIMITS).text
    assert (read.status, read.text) == (NO_TEXT, "")


def test_a_malformed_pdf_could_not_be_read():
    assert read_document(MALFORMED_PDF, "application/pdf", LIMITS).status == UNREADABLE


def test_only_the_first_pages_and_characters_are_read_even_of_thousands_of_pages():
    # The page tree is walked only as far as the tenth page (pypdf's own walk resolves all 5,000
    # first). No time assertion here: on a loaded machine even a fast read can pass 2 s; the hostile
    # PDFs below test the limit.
    pdf = build_pdf([text_stream(f"page {n} " + "x" * 50) for n in range(5000)])
    read = read_document(pdf, "application/pdf", LIMITS)
    assert read.status == READ and "page 9 " in read.text and "page 10 " not in read.text
    capped = read_document(pdf, "application/pdf",
                       Limits(pages=10, chars=100, seconds=30, memory_bytes=LIMITS.memory_bytes))
    assert len(capped.text) == 100


@pytest.mark.parametrize("hostile, statuses", [
    ("huge content stream", {TIMED_OUT}),
    ("decompression bomb", {TIMED_OUT, UNREADABLE}),
    ("deeply nested", {TIMED_OUT, UNREADABLE}),
], ids=["huge content stream", "decompression bomb", "deeply nested"])
def test_a_hostile_pdf_comes_back_within_the_time_limit(hostile, statuses):
    hostile = hostile_pdf(hostile)
    limits = Limits(pages=10, chars=100_000, seconds=HOSTILE_SECONDS, memory_bytes=LIMITS.memory_bytes)
    started = time.monotonic()
    read = read_document(hostile, "application/pdf", limits)
    assert time.monotonic() - started < HOSTILE_SECONDS + SLACK
    assert read.status in statuses


# --- through the portal and the review queue -----------------------------------------------------


def upload(customer, license_form, content, name="proof.pdf", **changes):
    """Add a license with the document; where it says otherwise, saved anyway with a note (as a customer may)."""
    response = customer.post("/licenses", data=license_form(proof=(io.BytesIO(content), name), **changes))
    return save_anyway(customer, "/licenses", response, license_form(proof=None, **changes))


def save_anyway(customer, url, response, fields):
    """After the form said the document differs (422), the same fields saved anyway with a note to staff."""
    if response.status_code != 422 or page_of(response).find(id="proof-differences") is None:
        return response
    kept = page_of(response).find("input", attrs={"name": "kept_proof"})["value"]
    return customer.post(url, data={**fields, "kept_proof": kept, "save_anyway": "1",
                                    "staff_note": "The document is right; please check."})


def queue_row(staff):
    """The review queue's only row: {cell class: its text}."""
    rows = page_of(staff.get("/admin/reviews")).find(id="review-queue").find("tbody").find_all("tr")
    assert len(rows) == 1
    return {cell_class: " ".join(rows[0].find("td", class_=cell_class).get_text(" ").split())
            for cell_class in ("check-plan", "check-seats", "check-expires_on", "check-tenant", "check-document")}


def expires_on(today):
    return today + timedelta(days=200)


def test_an_upload_that_matches_shows_every_field_found_in_the_queue(customer, staff, license_form, today):
    day = expires_on(today)
    response = upload(customer, license_form, proof_pdf(seats=25, expires=day.strftime("%B %d, %Y")),
                      expires_on=day.isoformat())
    assert response.status_code == 302
    row = queue_row(staff)
    assert row["check-plan"] == "Office 365 E3 found in document"
    assert row["check-seats"] == "25 found in document"
    assert row["check-expires_on"].endswith("found in document")
    assert row["check-tenant"] == f"{TENANT} found in document"
    assert "Text read and compared" in row["check-document"]


def test_an_upload_that_differs_shows_what_the_document_says(customer, staff, license_form, today):
    upload(customer, license_form, proof_pdf(plan="Office 365 E5", seats=30, expires="31/03/2020",
                                             tenant="contoso.onmicrosoft.com"))
    row = queue_row(staff)
    assert row["check-plan"] == "Office 365 E3 document says Office 365 E5"
    assert row["check-seats"] == "25 document says 30"
    assert row["check-expires_on"].endswith("document says 31/03/2020")
    assert row["check-tenant"] == f"{TENANT} document says contoso.onmicrosoft.com"
    with db.database.connection_context():
        check = ProofCheck.get()
        assert (check.status, check.seats, check.seats_seen) == (READ, DIFFERENT, "30")


def test_a_document_silent_on_a_field_shows_it_not_found(customer, staff, license_form):
    upload(customer, license_form, build_pdf([text_stream("Office 365 E3", "Thank you for your order")]))
    row = queue_row(staff)
    assert row["check-plan"].endswith("found in document")
    assert row["check-seats"] == "25 not in document"
    assert row["check-tenant"] == f"{TENANT} not in document"


@pytest.mark.parametrize("content, name, shown", [
    (SCANNED_PDF, "scan.pdf", "No text to check"),
    (PNG, "screenshot.png", "Could not be read"),
    (MALFORMED_PDF, "broken.pdf", "Could not be read"),
], ids=["scanned pdf", "broken png", "malformed pdf"])
def test_a_proof_without_readable_text_is_still_saved_and_says_so(customer, staff, license_form, content, name, shown):
    response = upload(customer, license_form, content, name=name)
    assert response.status_code == 302
    row = queue_row(staff)
    assert shown in row["check-document"]
    assert row["check-seats"] == "25"  # no field state without text
    with db.database.connection_context():
        document = ProofDocument.get()
        assert bytes(document.content) == content


def test_a_reading_that_fails_in_any_way_keeps_the_upload_and_says_could_not_be_read(app, customer, staff,
                                                                                    license_form):
    # With 1 MB the child cannot even import pypdf: it dies with MemoryError, as it would on a bomb.
    app.config["PROOF_TEXT_MAX_MEMORY_MB"] = 1
    assert upload(customer, license_form, proof_pdf()).status_code == 302
    assert "Could not be read" in queue_row(staff)["check-document"]
    with db.database.connection_context():
        assert ProofDocument.get().text_status == UNREADABLE


def test_a_hostile_pdf_upload_is_kept_and_could_not_be_read_in_time(app, customer, staff, license_form):
    app.config["PROOF_TEXT_SECONDS"] = HOSTILE_SECONDS
    huge = hostile_pdf("huge content stream")  # made before the clock starts
    started = time.monotonic()
    response = upload(customer, license_form, huge, name="huge.pdf")
    assert time.monotonic() - started < HOSTILE_SECONDS + 3  # the request's own work on top
    assert response.status_code == 302
    assert "Could not be read in time" in queue_row(staff)["check-document"]
    with db.database.connection_context():
        assert bytes(License.get().current.proof.content) == huge


def test_the_check_is_against_the_terms_saved_not_those_of_the_failed_try(customer, staff, license_form, today):
    # A form that fails keeps its upload; the Save that uses it compares with what was entered then.
    day = expires_on(today)
    pdf = proof_pdf(seats=40, expires=day.isoformat())
    failed = upload(customer, license_form, pdf, seats="25", contact_email="not an email", expires_on=day.isoformat())
    assert failed.status_code == 422
    kept = page_of(failed).find("input", attrs={"name": "kept_proof"})["value"]
    saved = customer.post("/licenses", data=license_form(proof=None, kept_proof=kept, seats="40",
                                                         expires_on=day.isoformat()))
    assert saved.status_code == 302
    assert queue_row(staff)["check-seats"] == "40 found in document"


def test_each_renewal_is_checked_and_the_admin_license_page_shows_every_check(customer, staff, license_form, today):
    day = expires_on(today)
    upload(customer, license_form, proof_pdf(expires=day.isoformat()), expires_on=day.isoformat())
    with db.database.connection_context():
        license = License.get()
    terms = {
        "seats": "25", "term": "Yearly", "expires_on": (day + timedelta(days=30)).isoformat(), "tenant": TENANT,
        "contact_name": "Pat Doe", "contact_email": "pat@northwind.example",
    }
    url = f"/licenses/{license.id}/update"
    renewed = customer.post(url, data={
        **terms, "proof": (io.BytesIO(proof_pdf(seats=26, expires=day.isoformat())), "renewal.pdf"),
    })
    assert renewed.status_code == 422
    assert save_anyway(customer, url, renewed, terms).status_code == 302
    page = text_of(staff.get(f"/admin/licenses/{license.id}"))
    assert "26" in page and "document says 26" in page and f"document says {day.isoformat()}" in page
    assert page.count("Text read and compared") == 2
    with db.database.connection_context():
        assert ProofCheck.select().count() == 2
    # The customer's own history page shows no staff check.
    assert "document says" not in text_of(customer.get(f"/licenses/{license.id}"))


def test_hostile_text_inside_a_pdf_is_stored_cleaned_and_shown_escaped(customer, staff, license_form):
    hostile = build_pdf([text_stream("Tenant: <script>x</script>.onmicrosoft.com", "licenses: 7",
                                     "Plan \x00 Office 365 <b>E5</b>")])
    assert upload(customer, license_form, hostile).status_code == 302
    response = staff.get("/admin/reviews")
    assert response.status_code == 200
    assert "<script>x</script>" not in response.get_data(as_text=True)
    with db.database.connection_context():
        stored = ProofDocument.get().extracted_text
    assert "\x00" not in stored and "Office 365" in stored


def test_an_htmx_review_error_keeps_the_check_in_the_row(customer, staff, license_form):
    upload(customer, license_form, proof_pdf(seats=30))
    with db.database.connection_context():
        version_id = LicenseVersion.get().id
    response = staff.post(f"/admin/reviews/{version_id}", data={"decision": "rejected", "reason": ""},
                          headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "document says 30" in response.get_data(as_text=True)


def test_a_version_from_before_the_check_says_not_checked(staff, account):
    license = insert_license(account)
    with db.database.connection_context():
        ProofCheck.delete().execute()
    row = queue_row(staff)
    assert "Not checked" in row["check-document"]
    assert row["check-seats"] == "25"
    assert license.plan in row["check-plan"]


def test_pages_that_list_proofs_never_load_their_text_or_content(customer, staff, license_form):
    from conftest import count_queries

    upload(customer, license_form, proof_pdf())
    with db.database.connection_context():
        license_id = License.get().id
    with count_queries() as queries:
        assert customer.get("/licenses").status_code == 200
        assert customer.get(f"/licenses/{license_id}").status_code == 200
        assert staff.get("/admin/reviews").status_code == 200
        assert staff.get(f"/admin/licenses/{license_id}").status_code == 200
    assert queries and not [q for q in queries if "extracted_text" in q or '"content"' in q]
