"""Browser fixtures: the real app served from a thread (CSRF on), driven by Debian's Chromium via Playwright.

This folder is a package (it has an __init__.py) so that its conftest is imported as
`browser.conftest` and does not replace the `conftest` module the other test files import from.
"""
import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from conftest import PASSWORD, _empty_database, skip_or_fail
from helpers import create_user
from werkzeug.serving import WSGIRequestHandler, make_server

from browser.scans import (
    CUSTOMER,
    GUARDED_EMAIL,
    PLAN,
    STAFF,
    STAFF_EMAIL,
    STAFF_OWING_CODE,
    SUSPENDED,
    UNAUTHORIZED,
    World,
)
from config import TestConfig
from webapp import create_app
from webapp.accounts.models import Account, User
from webapp.core.clock import business_today, utcnow
from webapp.extensions import db
from webapp.identity import links as tokens
from webapp.identity import two_factor
from webapp.identity.models import AccessToken
from webapp.licenses import store as license_store
from webapp.licenses.models import Product, ProofDocument
from webapp.licenses.proofs import Upload, store_upload
from webapp.microsoft365.models import TenantLink, TenantSnapshot

# `make screenshots` (test_screenshots.py) saves pictures for people; it is collected only when asked for.
if not os.environ.get("SCREENSHOTS_DIR"):
    collect_ignore = ["test_screenshots.py"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Playwright cannot download its browser here, so it drives the Chromium Debian installed."""
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url():
    """None: each module serves its own portal on a free port, so tests use absolute URLs.

    This also replaces pytest-playwright's own base_url fixture, which pytest 9 warns about.
    """
    return None


class _QuietRequestHandler(WSGIRequestHandler):
    """Keeps the access log out of the test output; errors are still logged."""

    def log_request(self, *args, **kwargs):
        pass


@dataclass
class LivePortal:
    app: object
    url: str

    def today(self):
        """Today in the portal's business time zone."""
        return business_today(self.app.config["BUSINESS_TIMEZONE"])


@pytest.fixture(scope="module")
def portal(request, database_url):
    """The real app on 127.0.0.1:<free port>, one per test module; a module may set PORTAL_SETTINGS."""
    settings = getattr(request.module, "PORTAL_SETTINGS", {})
    # The portal answers only at its PORTAL_URL (TRUSTED_HOSTS), so that is the server's own address.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=True,
                     PORTAL_URL=f"http://127.0.0.1:{port}", **settings)
    _empty_database()
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    try:
        yield LivePortal(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        if not db.database.is_closed():
            db.database.close()


@pytest.fixture
def customer(portal):
    """Empty tables, then an active BYOL account with one authorized user (email, password)."""
    _empty_database()
    with db.database.connection_context():
        account = Account.create(name="Northwind Traders")
    return create_user(portal.app, "pat@northwind.example", account=account, name="Pat Doe")


@pytest.fixture
def staff_user(portal, customer):
    """A staff admin (with PASSWORD), beside the customer."""
    return create_user(portal.app, "staff@provider.example", admin=True, authorized=False)


@pytest.fixture
def html_named_proof(customer, portal, pdf):
    """Office 365 E3 whose proof, a PDF, was uploaded under the name proof.html."""
    with db.database.connection_context():
        account = Account.get_by_id(customer.account_id)
        product = Product.get(Product.name == "MS Office 365")
        proof = store_upload(Upload(pdf, "application/pdf", "proof.html"), account, customer.id)
        terms = {"seats": 25, "term": "Yearly", "expires_on": portal.today() + timedelta(days=100),
                 "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat Doe",
                 "contact_email": "pat@northwind.example"}
        return license_store.add_license(account, customer.id, product, "Office 365 E3", terms, proof)


@pytest.fixture
def world(portal, pdf):
    """What the scans of browser/scans.py visit: empty tables, then the accounts, users and license of a World."""
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
        # As the reader records a PDF with JavaScript run on opening: the staff pages' warning is scanned too.
        ProofDocument.update(active_content="javascript,open_action").where(ProofDocument.id == proof.id).execute()
        token = tokens.issue(invited.id, AccessToken.RESET, timedelta(hours=1), utcnow())
        # Microsoft 365 switched on, the account connected, with a snapshot that does not confirm the plan:
        # the tab's box, each license's verdict and the staff pages' are scanned too (no request leaves here).
        portal.app.config.update(M365_CLIENT_ID="11111111-2222-3333-4444-555555555555", M365_CLIENT_SECRET="scan")
        TenantLink.create(account=account.id, tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
                          organization_name="Northwind", connected_by=customer.id, read_at=utcnow())
        TenantSnapshot.create(account=account.id, tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47", taken_on=today,
                              subscriptions=json.dumps([{"skuPartNumber": "ENTERPRISEPACK", "totalLicenses": 20,
                                                         "status": "Enabled", "isTrial": False,
                                                         "nextLifecycleDateTime": "2099-12-31T23:59:59Z"}]),
                              subscribed_skus="[]")
        # A plan the customer removed, with a long name: the staff account page lists it on a phone too.
        removed = license_store.add_license(account, customer.id, product, "Microsoft 365 Business Premium (annual commitment, legacy)",
                                            {**terms, "expires_on": today + timedelta(days=90)}, store_upload(
                                                Upload(pdf, "application/pdf", "old-plan.pdf"), account, customer.id))
        license_store.retire_license(removed, User.get_by_id(customer.id))
    return World(
        today=today, pdf=pdf,
        ids={"license_id": license.id, "account_id": account.id, "user_id": unauthorized.id, "token": token},
        emails={CUSTOMER: "pat@northwind.example", UNAUTHORIZED: "lee@northwind.example",
                SUSPENDED: "kim@fabrikam.example", STAFF: STAFF_EMAIL, STAFF_OWING_CODE: GUARDED_EMAIL},
    )


@pytest.fixture
def log_in(portal):
    """Log a page in through the login form, the way a person does."""

    def log_in_as(page, user):
        page.goto(f"{portal.url}/login")
        page.get_by_label("Email", exact=True).fill(user.email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{portal.url}/licenses")

    return log_in_as


@pytest.fixture
def fill_license_form(pdf):
    """Fill every field of the open Add License (or Update) form by its visible label."""

    def fill(page, expires_on, plan="Office 365 E3", term="Yearly", proof_name="proof.pdf", proof=pdf):
        if plan is not None:  # the Update form shows product and plan as text, not fields
            page.get_by_label("Product", exact=True).select_option(label="MS Office 365")
            page.get_by_label("Plan", exact=True).fill(plan)
        page.get_by_label("Number of licenses", exact=True).fill("25")
        page.get_by_label("Subscription term", exact=True).select_option(label=term)
        page.get_by_label("Expiration date", exact=True).fill(expires_on.isoformat())
        page.get_by_label("Microsoft 365 tenant", exact=True).fill("northwind.onmicrosoft.com")
        page.get_by_label("Contact name", exact=True).fill("Pat Doe")
        page.get_by_label("Contact email", exact=True).fill("pat@northwind.example")
        page.get_by_label("Proof of licensing", exact=True).set_input_files(
            {"name": proof_name, "mimeType": "application/pdf", "buffer": proof}
        )

    return fill


class PageLoads:
    """Watches a page for full loads: main-frame navigations, and a marker a reload would wipe out."""

    def __init__(self, page):
        self.page = page
        self.navigations = []
        page.on("framenavigated", self._record)
        page.evaluate("window.__marker = 1")

    def _record(self, frame):
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)

    def assert_none(self):
        """Nothing since the watch began replaced the document."""
        assert self.navigations == [], f"the page navigated: {self.navigations}"
        assert self.page.evaluate("window.__marker") == 1, "the page was reloaded"


@pytest.fixture
def watch_page_loads():
    return PageLoads


# axe-core is a test tool, never served to users: npm installs it outside static/, once per machine.
AXE_VERSION = "axe-core@4"
AXE_DIR = os.environ.get("AXE_CORE_DIR") or os.path.join(os.path.dirname(__file__), ".axe")


@pytest.fixture(scope="session")
def axe_script():
    """The path of axe.min.js; `npm install` fetches it into AXE_DIR the first time (.ci/run does it first)."""
    script = os.path.join(AXE_DIR, "node_modules", "axe-core", "axe.min.js")
    if os.path.exists(script):
        return script
    os.makedirs(AXE_DIR, exist_ok=True)
    # Parallel workers (pytest-xdist) each ask for it: one installs while the others wait, then find it.
    with open(os.path.join(AXE_DIR, ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(script):
            if shutil.which("npm") is None:
                skip_or_fail("npm is not installed: it fetches axe-core for the accessibility tests")
            installed = subprocess.run(
                ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", AXE_DIR, AXE_VERSION],
                capture_output=True, text=True, timeout=300,
            )
            if installed.returncode != 0 or not os.path.exists(script):
                skip_or_fail(f"npm could not install {AXE_VERSION}: {installed.stderr.strip()[-500:]}")
    return script
