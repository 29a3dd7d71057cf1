"""A phone (390×844) and a laptop (1280×720): no page of the portal scrolls sideways, in any state.

The pages and states are the accessibility scans' (SCANS in browser/scans.py), so a page added there is
checked here too. Wide tables scroll inside their own box; the license table stacks on a phone.
"""
import pytest
from playwright.sync_api import expect

from browser.scans import CUSTOMER, PLAN, SCANS, Scan, add_license_open, visit

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 720}


def sideways_overflow(page):
    """How many CSS pixels the document is wider than the window (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("scan", SCANS, ids=[scan.name for scan in SCANS])
def test_no_page_scrolls_sideways(page, portal, world, scan):
    page.set_viewport_size(PHONE)
    visit(page, portal, world, scan)
    assert sideways_overflow(page) <= 0, f"{scan.name} at 390 px: {page.url}"
    page.set_viewport_size(LAPTOP)
    assert sideways_overflow(page) <= 0, f"{scan.name} at 1280 px: {page.url}"


def test_on_a_phone_each_license_is_a_stacked_card_naming_its_plan_beside_update(page, portal, world):
    page.set_viewport_size(PHONE)
    visit(page, portal, world, Scan("tab", CUSTOMER, "/licenses"))
    row = page.locator("#license-table tbody tr").first
    update = row.get_by_role("link", name=f"Update {PLAN}")
    expect(update).to_be_visible()
    expect(update).to_have_text(f"Update {PLAN}")
    # Stacked: every cell starts at the row's left edge, one under the other, and nothing is cut off.
    boxes = [cell.bounding_box() for cell in row.locator("td").all()]
    assert len({round(box["x"]) for box in boxes}) == 1
    assert all(box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] for box in boxes)
    # Each card is headed by its plan, then its status; the other cells follow in the table's order.
    plan, status = row.locator("td.plan").bounding_box(), row.locator('td[data-label="Status"]').bounding_box()
    assert plan["y"] == min(box["y"] for box in boxes) and status["y"] == sorted(box["y"] for box in boxes)[1]
    assert row.locator("td.plan").evaluate("cell => getComputedStyle(cell, '::before').content") == "none"
    rest = [box["y"] for box in boxes if box not in (plan, status)]
    assert rest == sorted(rest)
    # Each value is named by its column.
    expiry = row.locator('td[data-label="Expiration date"]')
    assert expiry.evaluate("cell => getComputedStyle(cell, '::before').content") == '"Expiration date"'
    # A label that wraps ("Expiration / date") makes its cell taller instead of running into the next one.
    for cell in row.locator("td[data-label]:not(.plan)").all():
        label, height = cell.evaluate("cell => [parseFloat(getComputedStyle(cell, '::before').height), cell.clientHeight]")
        assert label <= height, cell.get_attribute("data-label")

    page.set_viewport_size(LAPTOP)
    # On a wide screen it is a table again: the plan beside Update is for screen readers only.
    boxes = [cell.bounding_box() for cell in row.locator("td").all()]
    assert len({round(box["y"]) for box in boxes}) == 1
    assert row.locator(".row-plan").bounding_box()["width"] <= 1
    # The whole table fits a laptop's width: Remove is not hidden past the table's scroll edge.
    assert page.evaluate("(box => box.scrollWidth - box.clientWidth)(document.querySelector('.table-scroll'))") <= 0
    assert row.get_by_role("link", name=f"Remove {PLAN}").bounding_box()["x"] + 10 < LAPTOP["width"]


def test_on_a_phone_the_form_fits(page, portal, world):
    page.set_viewport_size(PHONE)
    visit(page, portal, world, Scan("tab", CUSTOMER, "/licenses", add_license_open))
    form = page.locator("#license-form form")
    fields = form.locator("input:not([type=hidden]), select, button")
    assert fields.count() >= 9
    for field in fields.all():
        box = field.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], field.evaluate("e => e.outerHTML")
    assert sideways_overflow(page) <= 0
