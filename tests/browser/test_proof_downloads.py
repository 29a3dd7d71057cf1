"""Proof downloads in a real browser: a staff proof link downloads the file under the name its real type
gives (hx-boost does not paint the PDF into the page), and the page stays as it was."""
import pytest
from helpers import log_in_staff, watch_console
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_admin_proof_link_downloads_and_leaves_the_page_alone(page, portal, customer, html_named_proof,
                                                                 staff_user, pdf, watch_page_loads):
    problems = watch_console(page)
    log_in_staff(page, portal, staff_user)
    page.get_by_role("link", name="Northwind Traders").click()  # a boosted navigation
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Traders")
    loads = watch_page_loads(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="proof.html", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "proof.pdf"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == pdf
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Traders")
    expect(page.locator("body")).not_to_contain_text("%PDF")
    loads.assert_none()

    page.get_by_role("link", name="Office 365 E3").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("MS Office 365: Office 365 E3")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="proof.html", exact=True).click()
    assert download_info.value.suggested_filename == "proof.pdf"
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []
