"""The password reset and the invitation in a real browser (Chromium): the link arrives by email at a
real SMTP server (aiosmtpd), is opened, and Set password signs the person in."""
import re
import time

import pytest
from conftest import PASSWORD
from helpers import create_user
from playwright.sync_api import expect

from webapp.accounts.models import Account, User
from webapp.extensions import db

pytestmark = pytest.mark.browser
LINK = re.compile(r"http://127\.0\.0\.1:\d+(/password/set/[A-Za-z0-9_-]+)")
NEW_PASSWORD = "a browser typed passphrase"


@pytest.fixture
def mailbox(portal, smtp_server):
    smtp_server.configure(portal.app)
    return smtp_server


def link_for(mailbox, address):
    """The path of the Set password link in the latest email to `address` (sent after the answer: wait)."""
    deadline = time.monotonic() + 10
    while not mailbox.to(address) and time.monotonic() < deadline:
        time.sleep(0.05)
    message = mailbox.to(address)[-1]
    return LINK.search(message.get_body(("plain",)).get_content()).group(1)


def set_password(page):
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()


@pytest.fixture(params=[True, False], ids=["htmx", "no-javascript"])
def any_context(request, browser, browser_context_args):
    context = browser.new_context(**browser_context_args, java_script_enabled=request.param)
    try:
        yield context
    finally:
        context.close()


def test_forgot_password_to_a_new_password(any_context, browser, portal, customer, mailbox, log_in):
    other = browser.new_context()
    try:
        elsewhere = other.new_page()
        log_in(elsewhere, customer)

        page = any_context.new_page()
        page.goto(f"{portal.url}/login")
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_label("Email", exact=True).fill(customer.email)
        page.get_by_role("button", name="Send reset link").click()
        expect(page.get_by_role("status")).to_contain_text("is on its way")

        page.goto(portal.url + link_for(mailbox, customer.email))
        expect(page.get_by_role("heading", name="Set password")).to_be_visible()
        # Too short first: the message comes back with the form, nothing is used up.
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("Confirm new password", exact=True).fill("short")
        page.get_by_role("button", name="Set password").click()
        expect(page.locator("#set-password-form")).to_contain_text("at least 12 characters")
        set_password(page)
        page.wait_for_url(f"{portal.url}/licenses")
        expect(page.locator("#messages")).to_contain_text("Your password is set.")

        # The other browser's session has ended.
        elsewhere.goto(f"{portal.url}/licenses")
        assert elsewhere.url.startswith(f"{portal.url}/login")
    finally:
        other.close()
    with db.database.connection_context():
        user = User.get(User.email == customer.email)
        assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)


def test_an_invitation_from_staff_to_a_signed_in_invitee(browser, page, portal, customer, mailbox):
    staff = create_user(portal.app, "staff@provider.example", admin=True, authorized=False, name="Sam Staff")
    with db.database.connection_context():
        account = Account.get(Account.name == "Northwind Traders")
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill(staff.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal.url}/admin/")
    page.goto(f"{portal.url}/admin/accounts/{account.id}")
    page.get_by_label("Email", exact=True).fill("new.person@northwind.example")
    page.get_by_label("Name", exact=True).fill("New Person")
    page.get_by_label("Authorized to open the Onboarding Portal").check()
    page.get_by_role("button", name="Invite user").click()
    # The message, not its copy in the screen reader's announcer (which may already hold it too).
    expect(page.locator("#messages")).to_contain_text("Invitation sent to new.person@northwind.example")
    expect(page.get_by_role("cell", name="new.person@northwind.example")).to_be_visible()

    invitee = browser.new_context()
    try:
        tab = invitee.new_page()
        link = portal.url + link_for(mailbox, "new.person@northwind.example")
        tab.goto(link)
        expect(tab.get_by_text("Welcome.")).to_be_visible()
        set_password(tab)
        tab.wait_for_url(f"{portal.url}/licenses")
        expect(tab.get_by_role("link", name="Add License")).to_be_visible()
        # The link is used up.
        tab.goto(link)
        expect(tab.get_by_role("alert")).to_contain_text("already used")
    finally:
        invitee.close()
