"""In the browser, with CSRF on and the real CSP: the staff accounts list's form and pager swap the
list alone (no page load), push the URL, and Back brings the earlier list again."""
import pytest
from conftest import PASSWORD, _empty_database
from helpers import create_user
from playwright.sync_api import expect

from webapp.accounts.models import Account
from webapp.extensions import db

pytestmark = pytest.mark.browser


def test_filter_sort_and_pages_swap_the_list_and_push_the_url(page, portal):
    _empty_database()
    with db.database.connection_context():
        Account.insert_many([{"name": f"Account {n:03}", "status": Account.SUSPENDED if n % 2 else Account.ACTIVE}
                             for n in range(120)]).execute()
    create_user(portal.app, "staff@provider.example", admin=True)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill("staff@provider.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal.url}/admin/")
    rows = page.locator("#accounts tbody tr")
    expect(rows).to_have_count(50)
    expect(page.get_by_text("120 accounts, page 1 of 3")).to_be_visible()

    page.evaluate("window.__marker = 1")  # a full page load would wipe it out
    page.get_by_label("Filter", exact=True).select_option(label="Suspended")
    page.get_by_label("Order", exact=True).select_option(label="Descending")
    page.locator("form.list-controls").get_by_role("button", name="Show").click()
    expect(page.get_by_text("60 accounts, page 1 of 2")).to_be_visible()
    expect(rows.first).to_contain_text("Account 119")
    assert "filter=suspended" in page.url and "order=desc" in page.url

    with page.expect_response(lambda response: "page=2" in response.url) as answer:
        page.get_by_role("link", name="Next →").click()
    assert "<html" not in answer.value.text()  # the list alone, not a boosted whole page
    expect(page.get_by_text("60 accounts, page 2 of 2")).to_be_visible()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("Account 019")
    assert page.url.endswith("page=2")
    # Swapped in place (htmx's pushState counts as a navigation for Playwright, so the marker decides).
    assert page.evaluate("window.__marker") == 1
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()

    page.go_back()
    expect(page.get_by_text("60 accounts, page 1 of 2")).to_be_visible()
    expect(rows.first).to_contain_text("Account 119")
    assert errors == []
