"""The pages and states the browser tests visit, shared by the accessibility scans and the layout check.

SCANS holds one Scan per page and state: who visits, the path, and what they do there first. visit()
signs a page in as the scan's visitor and brings it to its state; the `world` fixture (conftest.py)
builds the World a scan visits: an account with a license awaiting review, and a visitor per role.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import pyotp
from helpers import PASSWORD
from playwright.sync_api import expect

# Visitors: each scan signs in as one of them first (or stays anonymous).
ANONYMOUS, CUSTOMER, UNAUTHORIZED, SUSPENDED, STAFF, STAFF_OWING_CODE = (
    "anonymous", "customer", "unauthorized", "suspended", "staff", "staff owing the code",
)
STAFF_EMAIL = "staff@provider.example"
GUARDED_EMAIL = "guarded@provider.example"
PLAN = "Office 365 E3"


@dataclass(frozen=True)
class Scan:
    """One page in one state: `path` (may name {license_id}, {account_id}, {token}) as `visitor`, after `then`."""

    name: str
    visitor: str
    path: str
    then: Callable | None = field(default=None, compare=False)


# --- states: what a visitor does on the page before it is scanned ------------------------------


def wrong_password(page, world):
    page.get_by_label("Email", exact=True).fill(world.customer_email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".error-summary")).to_be_visible()


def add_license_open(page, world):
    page.get_by_role("link", name="Add License").click()
    expect(page.get_by_role("heading", name="Add License")).to_be_visible()


def add_license_errors(page, world):
    add_license_open(page, world)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".error-summary")).to_be_visible()


def update_open(page, world):
    page.get_by_role("link", name=f"Update {PLAN}").click()
    expect(page.get_by_role("heading", name=f"Update {PLAN}")).to_be_visible()


def update_saved(page, world):
    update_open(page, world)
    page.get_by_label("Expiration date", exact=True).fill((world.today + timedelta(days=300)).isoformat())
    page.get_by_label("Proof of licensing", exact=True).set_input_files(
        {"name": "renewal.pdf", "mimeType": "application/pdf", "buffer": world.pdf}
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("was updated")


def submit_empty(button):
    def submit(page, world):
        page.get_by_role("button", name=button).click()
        expect(page.locator(".error-summary")).to_be_visible()

    return submit


def forgot_sent(page, world):
    page.get_by_label("Email", exact=True).fill(world.customer_email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_text("is on its way")).to_be_visible()


def wrong_current_password(page, world):
    page.get_by_label("Current password", exact=True).fill("not the password")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".error-summary")).to_be_visible()


def feed_created(page, world):
    page.get_by_role("button", name="Create feed URL").click()
    expect(page.get_by_label("Your feed URL", exact=False)).to_be_visible()


def review_without_decision(page, world):
    page.get_by_role("button", name="Record review").first.click()
    expect(page.locator(".error-summary")).to_be_visible()


def rename_emptied(page, world):
    page.get_by_text("Rename this plan").click()
    page.get_by_label("Plan name", exact=True).fill("")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator(".error-summary")).to_be_visible()


def enrolled(page, world):
    """Confirm the authenticator with a right code: the page of recovery codes."""
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Authentication code", exact=True).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#recovery-codes")).to_be_visible()


def enrolled_then_settings(page, world):
    enrolled(page, world)
    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(page.get_by_role("button", name="Replace my recovery codes")).to_be_visible()


def wrong_code(page, world):
    page.get_by_label("Authentication code", exact=True).fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".error-summary")).to_be_visible()


SCANS = [
    Scan("login", ANONYMOUS, "/login"),
    Scan("login, wrong password", ANONYMOUS, "/login", wrong_password),
    Scan("login, empty", ANONYMOUS, "/login", submit_empty("Log in")),
    Scan("forgot password", ANONYMOUS, "/password/forgot"),
    Scan("forgot password, empty", ANONYMOUS, "/password/forgot", submit_empty("Send reset link")),
    Scan("forgot password, sent", ANONYMOUS, "/password/forgot", forgot_sent),
    Scan("set password", ANONYMOUS, "/password/set/{token}"),
    Scan("set password, empty", ANONYMOUS, "/password/set/{token}", submit_empty("Set password")),
    Scan("link refused", ANONYMOUS, "/password/set/not-a-token"),
    Scan("set password, no link opened", ANONYMOUS, "/password/set"),
    Scan("help, signed out", ANONYMOUS, "/help"),
    Scan("help", CUSTOMER, "/help"),
    Scan("client licenses", CUSTOMER, "/licenses"),
    Scan("add license open", CUSTOMER, "/licenses", add_license_open),
    Scan("add license errors", CUSTOMER, "/licenses", add_license_errors),
    Scan("update open", CUSTOMER, "/licenses", update_open),
    Scan("update saved", CUSTOMER, "/licenses", update_saved),
    Scan("add license page", CUSTOMER, "/licenses/new"),
    Scan("add license page, errors", CUSTOMER, "/licenses/new", submit_empty("Save")),
    Scan("update page", CUSTOMER, "/licenses/{license_id}/update"),
    Scan("history", CUSTOMER, "/licenses/{license_id}"),
    Scan("not found", CUSTOMER, "/licenses/2147483647"),
    Scan("calendar feed", CUSTOMER, "/calendar"),
    Scan("calendar feed created", CUSTOMER, "/calendar", feed_created),
    Scan("change password", CUSTOMER, "/password/change"),
    Scan("change password, wrong", CUSTOMER, "/password/change", wrong_current_password),
    Scan("refused, not authorized", UNAUTHORIZED, "/licenses"),
    Scan("refused, suspended", SUSPENDED, "/licenses"),
    Scan("accounts", STAFF, "/admin/"),
    Scan("accounts, filtered and sorted", STAFF, "/admin/?filter=awaiting-review&sort=expiration&order=desc"),
    Scan("accounts, bad filter", STAFF, "/admin/?filter=evil&page=0"),
    Scan("account", STAFF, "/admin/accounts/{account_id}"),
    Scan("account, invite errors", STAFF, "/admin/accounts/{account_id}", submit_empty("Invite user")),
    Scan("license page", STAFF, "/admin/licenses/{license_id}"),
    Scan("reviews", STAFF, "/admin/reviews"),
    Scan("reviews, row error", STAFF, "/admin/reviews", review_without_decision),
    Scan("billing", STAFF, "/admin/billing"),
    Scan("billing, bad cycle", STAFF, "/admin/billing?cycle=13-2026"),
    Scan("two-factor setup", STAFF, "/two-factor"),
    Scan("two-factor setup, wrong code", STAFF, "/two-factor", submit_empty("Confirm")),
    Scan("recovery codes", STAFF, "/two-factor", enrolled),
    Scan("two-factor enrolled", STAFF, "/two-factor", enrolled_then_settings),
    Scan("staff change password", STAFF, "/password/change"),
    Scan("authentication code", STAFF_OWING_CODE, "/login/code"),
    Scan("activity", CUSTOMER, "/activity"),
    Scan("remove license, confirm", CUSTOMER, "/licenses/{license_id}/remove"),
    Scan("audit log", STAFF, "/admin/audit"),
    Scan("audit log, bad date", STAFF, "/admin/audit?since=2026-13-45"),
    Scan("license page, rename error", STAFF, "/admin/licenses/{license_id}", rename_emptied),
    Scan("confirm suspend", STAFF, "/admin/accounts/{account_id}/status?status=suspended"),
    Scan("confirm switch to subscription", STAFF, "/admin/accounts/{account_id}/enrollment?enrollment=subscription"),
    Scan("confirm authorize", STAFF, "/admin/users/{user_id}/authorization?authorization=authorized"),
    Scan("confirm deactivate", STAFF, "/admin/users/{user_id}/access?access=deactivated"),
    Scan("authentication code, wrong", STAFF_OWING_CODE, "/login/code", wrong_code),
]

@dataclass
class World:
    """What the scans visit: an account with a license awaiting review, and a visitor per role."""

    today: object
    pdf: bytes
    ids: dict
    emails: dict

    @property
    def customer_email(self):
        return self.emails[CUSTOMER]


def visit(page, portal, world, scan):
    """Sign the page in as the scan's visitor, open its path and bring it to its state."""
    if scan.visitor != ANONYMOUS:
        page.goto(f"{portal.url}/login")
        page.get_by_label("Email", exact=True).fill(world.emails[scan.visitor])
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: not url.endswith("/login"))
    page.goto(portal.url + scan.path.format(**world.ids))
    if scan.then:
        scan.then(page, world)
    page.wait_for_load_state("load")
    # Scan the settled page: while htmx is still finishing a request, its buttons are dimmed on purpose.
    # A locator, not wait_for_function: an expression string is eval'd in the page, which its CSP refuses.
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
