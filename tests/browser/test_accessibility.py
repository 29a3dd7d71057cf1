"""WCAG 2.2 AA: axe-core scans every page of the portal, in every state a person reaches it in.

SCANS holds one row per page and state: who visits, the path, and what they do there before the scan.
A GET route that serves a page and has no scan fails test_every_page_has_a_scan, the way a route
without a row fails the route matrix (tests/whole_app/test_route_matrix.py); routes that serve no page (downloads,
feeds, JSON, redirects) are listed in NOT_PAGES with the reason. Adding a scan is one line.

axe.min.js comes from npm (the axe_script fixture), never from the portal: it is put into each page
by Playwright as an init script, which the portal's Content-Security-Policy does not apply to, so the
production CSP stays as it is.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import pyotp
import pytest
from conftest import PASSWORD, _empty_database
from helpers import create_user
from playwright.sync_api import expect

from webapp.accounts.models import Account, User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.identity import links as tokens
from webapp.identity import two_factor
from webapp.identity.models import AccessToken
from webapp.licenses import store as license_store
from webapp.licenses.models import Product
from webapp.licenses.proofs import Upload, store_upload

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

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

# GET routes that serve no page to scan, and why.
NOT_PAGES = {
    "portal.index": "redirects to the Client Licenses tab",
    "portal.download_proof": "a proof document download (PDF, PNG or JPEG)",
    "admin.download_proof": "a proof document download (PDF, PNG or JPEG)",
    "admin.billing_csv": "a CSV download",
    "admin.audit_csv": "a CSV download",
    "api.billing": "JSON for the provider's invoicing",
    "api.openapi_document": "the API's JSON description",
    "feeds.calendar": "an iCalendar feed",
}


def scanned_endpoints(app):
    """The endpoint each scan's path opens first, from the app's own URL map."""
    adapter = app.url_map.bind("portal.test")
    ids = {"license_id": 1, "account_id": 1, "user_id": 1, "token": "x"}
    return {adapter.match(scan.path.split("?")[0].format(**ids), method="GET")[0] for scan in SCANS}


def test_every_page_has_a_scan(app):
    """Like the route matrix: a new page without a scan (or a reason it is not a page) fails here."""
    pages = {
        rule.endpoint for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static"
    }
    scanned = scanned_endpoints(app)
    unscanned = pages - scanned - set(NOT_PAGES)
    assert not unscanned, f"add a Scan to SCANS for each new page (or a reason to NOT_PAGES): {sorted(unscanned)}"
    assert not scanned & set(NOT_PAGES), "a route is both scanned and listed as not a page"
    assert set(NOT_PAGES) <= pages, f"NOT_PAGES names routes that are gone: {sorted(set(NOT_PAGES) - pages)}"
    assert len({scan.name for scan in SCANS}) == len(SCANS), "two scans share a name"


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


@pytest.fixture
def world(portal, pdf):
    _empty_database()
    today = portal.today()
    with db.database.connection_context():
        account = Account.create(name="Northwind Traders")
        suspended = Account.create(name="Fabrikam Ltd", status=Account.SUSPENDED)
    # Hashed in the app's context, so with TestConfig's cheap method: outside it, each user cost a
    # production scrypt hash here and another at every login.
    customer = create_user(portal.app, "pat@northwind.example", account, name="Pat Doe")
    unauthorized = create_user(portal.app, "lee@northwind.example", account, authorized=False, name="Lee Roe")
    create_user(portal.app, "kim@fabrikam.example", suspended)
    create_user(portal.app, STAFF_EMAIL, admin=True, name="Sam Staff")
    guarded = create_user(portal.app, GUARDED_EMAIL, admin=True)
    invited = create_user(portal.app, "new@northwind.example", account)
    with db.database.connection_context():
        User.update(totp_secret=two_factor.new_secret()).where(User.id == guarded.id).execute()
        two_factor.issue_recovery_codes(guarded.id)
        product = Product.get(Product.name == "MS Office 365")
        proof = store_upload(Upload(pdf, "application/pdf", "proof.pdf"), account, customer.id)
        terms = {"seats": 25, "term": "Yearly", "expires_on": today + timedelta(days=20),
                 "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat Doe",
                 "contact_email": "pat@northwind.example"}
        license = license_store.add_license(account, customer.id, product, PLAN, terms, proof)
        token = tokens.issue(invited.id, AccessToken.RESET, timedelta(hours=1), utcnow())
    return World(
        today=today, pdf=pdf,
        ids={"license_id": license.id, "account_id": account.id, "user_id": unauthorized.id, "token": token},
        emails={CUSTOMER: "pat@northwind.example", UNAUTHORIZED: "lee@northwind.example",
                SUSPENDED: "kim@fabrikam.example", STAFF: STAFF_EMAIL, STAFF_OWING_CODE: GUARDED_EMAIL},
    )


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
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def axe_violations(page):
    """axe-core's WCAG A/AA violations on the page as it is now, one readable line per element."""
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at {node['target']}: "
        f"{node.get('failureSummary', '').splitlines()[-1] if node.get('failureSummary') else ''}"
        for violation in results["violations"]
        for node in violation["nodes"]
    ]


@pytest.fixture
def scanned_page(page, axe_script):
    page.context.add_init_script(path=axe_script)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("scan", SCANS, ids=[scan.name for scan in SCANS])
def test_no_wcag_violations(scanned_page, portal, world, scan):
    visit(scanned_page, portal, world, scan)
    assert scanned_page.evaluate("typeof axe") == "object", "axe-core was not loaded into the page"
    violations = axe_violations(scanned_page)
    assert violations == [], f"{scan.name} ({scanned_page.url}):\n" + "\n".join(violations)


@pytest.mark.browser
def test_the_scan_finds_a_violation(scanned_page, portal, world):
    """The scan is not blind: an image without alternative text, added to a scanned page, is reported."""
    visit(scanned_page, portal, world, SCANS[0])
    scanned_page.evaluate("document.querySelector('main').appendChild(document.createElement('img')).src = '/static/favicon.svg'")
    assert any(line.startswith("image-alt") for line in axe_violations(scanned_page))
