"""Screenshots are read: PNG and JPEG proofs by OCR (Tesseract) in the sandboxed reader, compared as a
PDF's text is, and hostile images end as "could not be read" while the save goes on.

The test set is built here: an admin-center-like "Your products" page with known values, drawn by
Chromium at 100%, 125% and 150% zoom, as PNG and as JPEG at quality 70 (admin_center.py).
bench/ocr.py times the same set and compares the engines.
"""
import io
import shutil
import struct
import zlib
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import skip_or_fail
from helpers import page_of

from licenses.admin_center import (
    SCREENS,
    Products,
    as_jpeg,
    chromium_available,
    page_html,
    render_pngs,
    screenshots,
)
from webapp.extensions import db
from webapp.licenses.document_check import (
    DIFFERENT,
    FOUND,
    clean_text,
    compare_terms,
    normalise,
)
from webapp.licenses.document_text import (
    JPEG,
    NO_TEXT,
    PNG,
    READ,
    UNREADABLE,
    Limits,
    lay_out,
    read_document,
)
from webapp.licenses.models import ProofCheck, ProofDocument

LIMITS = Limits(pages=10, chars=100_000, seconds=30, memory_bytes=512 * 1024 * 1024)
FIELD_GOAL = 0.95


@pytest.fixture(scope="module")
def tesseract():
    if shutil.which("tesseract") is None:
        skip_or_fail("the tesseract command is not installed (apt-get install tesseract-ocr)")


@pytest.fixture(scope="module")
def admin_center_shots():
    if not chromium_available():
        skip_or_fail("/usr/bin/chromium is not installed (apt-get install chromium)")
    return screenshots()


def fields_found(text, products):
    comparison = compare_terms(clean_text(text, LIMITS.chars), plan=products.plan, seats=products.seats,
                               expires_on=products.expires_on, tenant=products.tenant)
    return {name: field.state for name, field in comparison.fields()}


# --- the test set, read ------------------------------------------------------------------------


def test_the_test_set_is_every_page_at_every_zoom_as_png_and_jpeg(admin_center_shots):
    assert len(admin_center_shots) == len(SCREENS) * 3 * 2
    assert {(shot.zoom, shot.format) for shot in admin_center_shots} == {
        (zoom, image_format) for zoom in (1.0, 1.25, 1.5) for image_format in ("png", "jpeg")}
    assert {shot.content[:3] for shot in admin_center_shots} == {b"\x89PN", b"\xff\xd8\xff"}


def test_at_least_95_percent_of_the_fields_of_the_screenshots_are_read_right(tesseract, admin_center_shots):
    found, missed = 0, []
    for shot in admin_center_shots:
        read = read_document(shot.content, shot.media_type, LIMITS)
        assert read.status == READ, shot.name
        states = fields_found(read.text, shot.products)
        found += sum(state == FOUND for state in states.values())
        missed += [f"{shot.name}: {name}" for name, state in states.items() if state != FOUND]
    assert found / (4 * len(admin_center_shots)) >= FIELD_GOAL, missed


def test_an_image_without_text_has_no_text_to_check(tesseract):
    from PIL import Image

    blank = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(blank, "PNG")
    read = read_document(blank.getvalue(), PNG, LIMITS)
    assert (read.status, read.text) == (NO_TEXT, "")
    assert read.preview is not None


def test_without_the_ocr_engine_an_image_could_not_be_read_and_still_has_its_preview(monkeypatch, tmp_path):
    # What `make run` does on a machine without Tesseract: the reader finds no `tesseract` on its PATH.
    monkeypatch.setenv("PATH", str(tmp_path))
    read = read_document(as_jpeg(_png(400, 300)), JPEG, LIMITS)
    assert read.status == UNREADABLE and read.text == ""
    assert read.preview is not None and read.preview.media_type == JPEG


# --- hostile images ------------------------------------------------------------------------------


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width, height, idat):
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def _png(width, height):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "PNG")
    return out.getvalue()


def _zeros_compressed(size):
    compressor, chunks, block = zlib.compressobj(9), [], b"\0" * (1 << 20)
    for _ in range(size // len(block)):
        chunks.append(compressor.compress(block))
    return b"".join(chunks) + compressor.flush()


# 900 million pixels declared, with a few bytes of image data.
HUGE_PNG = _png_header(30000, 30000, zlib.compress(b"\0" * 30001))
# 64 million grey pixels that are really there: 64 MB of zeros inflated from 64 KB.
BOMB_PNG = _png_header(8000, 8000, _zeros_compressed(8001 * 8000))
# A JPEG header that declares 65,000 x 65,000 pixels.
HUGE_JPEG = (b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
             + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65000, 65000, 1) + b"\x01\x11\0" + b"\xff\xd9")


def truncated_jpeg():
    whole = as_jpeg(page_png())
    return whole[: len(whole) // 2]


def page_png():
    from PIL import Image, ImageDraw

    # A page with text, made without Chromium: enough for the JPEG to have data worth cutting.
    image = Image.new("RGB", (900, 500), "white")
    ImageDraw.Draw(image).text((40, 40), "Office 365 E3  Licenses 25  contoso.onmicrosoft.com", fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


HOSTILE = [
    pytest.param(HUGE_PNG, PNG, "huge.png", id="30000x30000 png"),
    pytest.param(BOMB_PNG, PNG, "bomb.png", id="decompression bomb png"),
    pytest.param(HUGE_JPEG, JPEG, "huge.jpg", id="65000x65000 jpeg"),
    pytest.param(None, JPEG, "cut.jpg", id="truncated jpeg"),
]


@pytest.mark.parametrize("content, media_type, name", HOSTILE)
def test_a_hostile_image_could_not_be_read_and_has_no_preview(content, media_type, name):
    read = read_document(content or truncated_jpeg(), media_type, LIMITS)
    assert read.status == UNREADABLE and read.text == ""
    assert read.preview is None


@pytest.mark.parametrize("content, media_type, name", HOSTILE)
def test_a_hostile_image_is_still_saved_and_staff_see_it_could_not_be_read(
        customer, staff, license_form, content, media_type, name):
    content = content or truncated_jpeg()
    response = customer.post("/licenses", data=license_form(proof=(io.BytesIO(content), name)))
    assert response.status_code == 302
    row = page_of(staff.get("/admin/reviews")).find(id="review-queue").find("tbody").find("tr")
    assert "Could not be read" in row.find("td", class_="check-document").get_text()
    with db.database.connection_context():
        document = ProofDocument.get()
        assert (bytes(document.content), document.media_type, document.text_status) == (
            content, media_type, UNREADABLE)


# --- through the portal --------------------------------------------------------------------------


def screenshot_for(today, image_format="png", **changes):
    """A "Your products" screenshot whose date is 200 days from today (the form refuses past dates)."""
    day = today + timedelta(days=200)
    products = replace(SCREENS[0], expires_on=day, date_text=f"{day:%b} {day.day}, {day.year}", **changes)
    png = render_pngs([(page_html(products), 1.0)])[0]
    return products, (png if image_format == "png" else as_jpeg(png))


def test_a_screenshot_that_matches_shows_every_field_found_in_the_queue(
        tesseract, customer, staff, license_form, today):
    if not chromium_available():
        skip_or_fail("/usr/bin/chromium is not installed")
    products, png = screenshot_for(today)
    response = customer.post("/licenses", data=license_form(
        proof=(io.BytesIO(png), "products.png"), plan=products.plan, seats=str(products.seats),
        expires_on=products.expires_on.isoformat(), tenant=products.tenant))
    assert response.status_code == 302
    with db.database.connection_context():
        check = ProofCheck.get()
        assert (check.status, check.plan, check.seats, check.expires_on, check.tenant) == (
            READ, FOUND, FOUND, FOUND, FOUND)


def test_a_jpeg_screenshot_of_another_plan_shows_what_it_says(tesseract, customer, staff, license_form, today):
    if not chromium_available():
        skip_or_fail("/usr/bin/chromium is not installed")
    products, jpeg = screenshot_for(today, "jpeg")
    terms = {"plan": "Office 365 E5", "seats": "30", "expires_on": products.expires_on.isoformat(),
             "tenant": products.tenant}
    asked = customer.post("/licenses", data=license_form(proof=(io.BytesIO(jpeg), "products.jpg"), **terms))
    # The customer is told at the form, before anything is saved; then saves anyway with a note.
    assert asked.status_code == 422
    told = " ".join(page_of(asked).find(id="proof-differences").get_text(" ").split())
    assert "The document says Office 365 E3; you entered Office 365 E5." in told
    assert "The document says 25 licenses; you entered 30 licenses." in told
    kept = page_of(asked).find("input", attrs={"name": "kept_proof"})["value"]
    saved = customer.post("/licenses", data=license_form(proof=None, kept_proof=kept, save_anyway="1",
                                                         staff_note="E5 since Monday.", **terms))
    assert saved.status_code == 302
    with db.database.connection_context():
        check = ProofCheck.get()
        assert (check.status, check.plan, check.plan_seen) == (READ, DIFFERENT, "Office 365 E3")
        assert (check.seats, check.seats_seen) == (DIFFERENT, "25")
        assert check.expires_on == FOUND and check.tenant == FOUND


# --- what OCR output needs of the comparison -----------------------------------------------------


def words(text, left, top, height=14, width_per_char=8):
    """One OCR line: its words as (text, left, top, right, bottom), spaced as a screen spaces them."""
    line, x = [], left
    for word in text.split():
        line.append((word, x, top, x + width_per_char * len(word), top + height))
        x += width_per_char * (len(word) + 1)
    return line


def test_a_label_over_its_value_is_read_as_one_phrase():
    # A details grid: three labels on one line, their values on the next, the columns 300 px apart.
    text = lay_out([
        words("Subscription status", 10, 100) + words("Licenses", 310, 100) + words("Renews on", 610, 100),
        words("Active", 10, 120) + words("25", 310, 120) + words("Dec 31, 2027", 610, 120),
    ])
    assert "Licenses 25" in text.splitlines() and "Renews on Dec 31, 2027" in text.splitlines()
    states = fields_found(text, Products("Office 365 E3", 25, SCREENS[0].expires_on, "x.onmicrosoft.com", "", ""))
    assert (states["seats"], states["expires_on"]) == (FOUND, FOUND)


def test_a_table_header_over_its_first_row_is_read_as_one_phrase():
    text = lay_out([
        words("Product name", 10, 100) + words("Purchased quantity", 310, 100),
        words("Office 365 E3", 10, 130) + words("1,200", 310, 130),
    ])
    assert "Purchased quantity 1,200" in text.splitlines()


def test_a_value_wrapped_at_a_hyphen_is_joined_again():
    text = lay_out([words("northwind-", 300, 100, height=20), words("traders.onmicrosoft.com", 300, 117)])
    assert "northwind-traders.onmicrosoft.com" in text.splitlines()


def test_words_far_apart_on_a_line_are_not_one_phrase_and_unrelated_lines_are_not_paired():
    text = lay_out([words("Licenses", 10, 100) + words("Invoice", 600, 100), words("Billing", 10, 400)])
    assert text.splitlines() == ["Licenses  Invoice", "Billing"]


@pytest.mark.parametrize("written", ["Licenses | 25", "Licenses: 25", "Licenses 25"])
def test_a_seat_count_after_a_table_rule(written):
    assert compare_terms(normalise(written), plan="x", seats=25, expires_on=SCREENS[0].expires_on,
                         tenant="x").seats.state == FOUND


@pytest.mark.parametrize("written", ["Dec 31, 2027", "Dec 31. 2027", "Dec 31 2027", "December 31, 2027"])
def test_an_ocr_read_month_day_year_date_after_renews_on(written):
    result = compare_terms(normalise(f"Renews on {written}"), plan="x", seats=1,
                           expires_on=SCREENS[0].expires_on, tenant="x")
    assert result.expires_on.state == FOUND


@pytest.mark.parametrize("written, entered", [
    ("Office 365 ES", "Office 365 E5"), ("Office 365 El", "Office 365 E1"), ("0ffice 365 E3", "Office 365 E3"),
])
def test_a_plan_name_with_ocr_lookalike_characters_is_found(written, entered):
    assert compare_terms(written, plan=entered, seats=1, expires_on=SCREENS[0].expires_on,
                         tenant="x").plan.state == FOUND


def test_lookalikes_do_not_make_another_plan_found():
    result = compare_terms("Office 365 E3", plan="Office 365 E5", seats=1, expires_on=SCREENS[0].expires_on,
                           tenant="x")
    assert (result.plan.state, result.plan.seen) == (DIFFERENT, "Office 365 E3")


def test_a_screenshot_larger_than_the_ocr_size_is_scaled_down_and_still_read(tesseract):
    from PIL import Image, ImageDraw, ImageFont

    # 10 million pixels (a 4K screen at 200% is 33 million): OCR reads it at 4 million.
    image = Image.new("RGB", (4000, 2500), "white")
    ImageDraw.Draw(image).text((200, 1000), "Office 365 E3   Licenses 25", fill="black",
                               font=ImageFont.load_default(size=90))
    out = io.BytesIO()
    image.save(out, "PNG")
    read = read_document(out.getvalue(), PNG, LIMITS)
    assert read.status == READ and "Office 365 E3" in read.text and "Licenses 25" in read.text
