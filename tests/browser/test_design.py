"""The design system in the browser: the staff navigation is one row at 1280 px, with the count of proofs to
review; destructive buttons are red and look apart from the others; the mailbox passes the scans."""
import pytest
from playwright.sync_api import expect

from browser.scans import CUSTOMER, STAFF, Scan, visit

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def test_the_staff_navigation_is_one_row_at_1280_px(page, portal, world):
    page.set_viewport_size(LAPTOP)
    visit(page, portal, world, Scan("staff", STAFF, "/admin/"))
    for path in ("/admin/", "/admin/reviews", "/admin/audit", "/two-factor"):
        page.goto(portal.url + path)
        links = page.locator("nav.tabs a")
        assert links.count() == 5
        tops = {round(link.bounding_box()["y"]) for link in links.all()}
        assert len(tops) == 1, f"{path}: the tabs sit on {len(tops)} rows"
        # The whole masthead is one row: the brand, the tabs and Log out share a line.
        header = page.locator("header.masthead").bounding_box()
        assert header["height"] < 80, header
        expect(page.get_by_role("link", name="Proof to review 1 waiting")).to_be_visible()


def _background(locator):
    return locator.evaluate("e => getComputedStyle(e).backgroundColor")


def _rgb(text):
    return tuple(int(part) for part in text[text.index("(") + 1:text.index(")")].split(",")[:3])


def test_destructive_buttons_are_red_and_apart_from_the_rest(page, portal, world):
    page.set_viewport_size(LAPTOP)
    visit(page, portal, world, Scan("account", STAFF, "/admin/accounts/{account_id}"))
    suspend = page.get_by_role("button", name="Suspend account")
    switch = page.get_by_role("button", name="Switch to provider subscription")
    deactivate = page.get_by_role("button", name="Deactivate").first
    authorize = page.get_by_role("button", name="Authorize")
    invite = page.get_by_role("button", name="Invite user")
    for button in (suspend, switch):
        red, green, blue = _rgb(_background(button))
        assert red > 150 and green < 80 and blue < 80, _background(button)  # GOV.UK's warning: red, white text
        assert _rgb(button.evaluate("e => getComputedStyle(e).color")) == (255, 255, 255)
    # In a row of several: outlined in red, the text red.
    red, green, blue = _rgb(deactivate.evaluate("e => getComputedStyle(e).color"))
    assert red > 150 and green < 80 and blue < 80
    assert _background(authorize) != _background(suspend) and _background(invite) != _background(suspend)
    assert authorize.evaluate("e => getComputedStyle(e).color") != deactivate.evaluate("e => getComputedStyle(e).color")
    # The customer's Remove, on its confirmation page, is red too.
    page.context.clear_cookies()
    visit(page, portal, world, Scan("remove", CUSTOMER, "/licenses/{license_id}/remove"))
    red, green, blue = _rgb(_background(page.get_by_role("button", name="Remove Office 365 E3")))
    assert red > 150 and green < 80 and blue < 80


def test_the_invite_checkbox_sits_beside_its_label(page, portal, world):
    page.set_viewport_size(LAPTOP)
    visit(page, portal, world, Scan("account", STAFF, "/admin/accounts/{account_id}"))
    box = page.get_by_label("Authorized to open the Onboarding Portal").bounding_box()
    label = page.locator("label[for=authorized]").bounding_box()
    assert box["x"] + box["width"] <= label["x"] and abs((box["y"] + box["height"] / 2) - (label["y"] + label["height"] / 2)) < 6


def test_on_a_phone_the_removed_plans_are_cards(page, portal, world):
    page.set_viewport_size(PHONE)
    visit(page, portal, world, Scan("account", STAFF, "/admin/accounts/{account_id}"))
    section = page.locator("#removed-plans")
    row = section.locator("tbody tr").first
    boxes = [cell.bounding_box() for cell in row.locator("td").all()]
    assert all(box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] for box in boxes)
    assert section.locator(".table-scroll").evaluate("e => e.scrollWidth - e.clientWidth") <= 0
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
