"""What several test modules share and is not a fixture: licenses written straight to the store, a
renewal, a review, reading a page, and the CSRF token of a page.

Fixtures live in conftest.py; test modules import these functions (`from helpers import ...`) instead of
from one another, so a module can be run, moved or deleted on its own.
"""
import hashlib
import re
from datetime import date
from html import unescape

from bs4 import BeautifulSoup, Tag
from cryptography.fernet import Fernet

from webapp.accounts.models import User
from webapp.cli.demo import demo_pdf
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product, ProofDocument
from webapp.licenses.proofs import Upload, store_upload
from webapp.review import store as review_store
from webapp.review.models import ReviewEvent

PASSWORD = "correct horse battery staple"
# A Fernet key for apps built with production settings, which require TOTP_ENCRYPTION_KEYS.
PRODUCTION_TOTP_KEY = Fernet.generate_key().decode()  # made per test run, never committed
# An expiration date no test day reaches.
FAR = date(2099, 12, 31)
HTMX = {"HX-Request": "true"}
# SQL that would change or remove an audit entry, as peewee logs it: ('UPDATE "auditentry" ...', [params]).
AUDIT_TAMPERING = re.compile(r'^\(\s*[\'"]\s*(UPDATE\s+"auditentry"|DELETE\s+FROM\s+"auditentry")', re.IGNORECASE)


# --- rows written straight to the store ----------------------------------------------------------


def insert_license(account, plan="Office 365 E3", expires_on=FAR, seats=25, *, rejected=None, proof=None,
                   proof_name="proof.pdf", contact=("Pat Doe", "pat@northwind.example"),
                   tenant="northwind.onmicrosoft.com", submitted_at=None, user=None):
    """A license with its first version, written through the store, for states the form refuses
    (past dates, rejected proof); `submitted_at` back-dates the version. Returns the License, reloaded."""
    with db.database.connection_context():
        product = Product.get(Product.name == "MS Office 365")
        document = store_upload(Upload(proof or demo_pdf(plan), "application/pdf", proof_name), account, None)
        license = license_store.add_license(
            account, user, product, plan,
            {"seats": seats, "term": "Yearly", "expires_on": expires_on, "tenant": tenant,
             "contact_name": contact[0], "contact_email": contact[1]},
            document,
        )
        changes = {}
        if rejected:
            changes.update(review_status=LicenseVersion.REJECTED, review_reason=rejected, reviewed_at=utcnow())
        if submitted_at:
            changes.update(submitted_at=submitted_at)
        if changes:
            LicenseVersion.update(**changes).where(LicenseVersion.id == license.current.id).execute()
        return License.get_by_id(license.id)


def renew_license(license, expires_on, *, proof=None, proof_name="renewed.pdf", submitted_at=None, **terms):
    """A renewal through the store: a new version with `expires_on` and a new proof; the other terms stay
    as on file unless given (seats=, tenant=, contact_name=, contact_email=). Returns the License, reloaded."""
    with db.database.connection_context():
        license = License.get_by_id(license.id)
        current = LicenseVersion.get_by_id(license.current_id)
        on_file = {"seats": current.seats, "term": "Yearly", "tenant": current.tenant,
                   "contact_name": current.contact_name, "contact_email": current.contact_email}
        document = store_upload(
            Upload(proof or demo_pdf("renewed"), "application/pdf", proof_name), license.account_id, None
        )
        license_store.renew_license(license, None, {**on_file, **terms, "expires_on": expires_on}, document)
        license = License.get_by_id(license.id)
        if submitted_at:
            LicenseVersion.update(submitted_at=submitted_at).where(LicenseVersion.id == license.current_id).execute()
        return license


def reject(license, at, reason="Blurry"):
    """Staff reject the license's current proof, as of `at`."""
    with db.database.connection_context():
        current_id = License.get_by_id(license.id).current_id
        review_store.review_version(current_id, LicenseVersion.REJECTED, reason)
        ReviewEvent.update(reviewed_at=at).where(ReviewEvent.version == current_id).execute()


def proof_document(account):
    """A small stored proof document of `account`, made without the upload checks."""
    content = b"%PDF-1.4 reminder test proof"
    with db.database.connection_context():
        return ProofDocument.create(
            account=account, content=content, sha256=hashlib.sha256(content).hexdigest(), size=len(content),
            original_name="proof.pdf", media_type="application/pdf",
        )


def create_user(app, email, account=None, authorized=True, admin=False, name=""):
    """A user whose password is PASSWORD, hashed in the app's context (so with TestConfig's cheap method)."""
    with app.app_context(), db.database.connection_context():
        user = User(email=email, account=account, is_authorized=authorized, is_admin=admin, name=name)
        user.set_password(PASSWORD)
        user.save()
        return user


def reload(model, row_id):
    with db.database.connection_context():
        return model.get_by_id(row_id)


# --- flask send-reminders ------------------------------------------------------------------------

REMINDER_SUMMARY = re.compile(r"^sent (\d+), failed (\d+), skipped (\d+)$")


def send(runner, today, *extra):
    """Run `flask send-reminders --today` through the test CLI runner; returns (exit code, output, counts)."""
    result = runner.invoke(args=["send-reminders", "--today", today.isoformat(), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output, summary_of(result.output)


def summary_of(output):
    """The counts of the summary line `sent N, failed N, skipped N` that ends every run's output."""
    lines = output.strip().splitlines()
    match = REMINDER_SUMMARY.match(lines[-1]) if lines else None
    assert match, f"the last line is not the summary: {output!r}"
    return tuple(int(n) for n in match.groups())


# --- reading pages -------------------------------------------------------------------------------


def page_of(response):
    """The response body, parsed."""
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def text_of(thing):
    """The text of a response or an element, whitespace collapsed, as a reader sees it."""
    element = thing if isinstance(thing, Tag) else page_of(thing)
    return " ".join(element.get_text(" ").split())


def messages_of(response):
    """The flashed messages of a page (the page must have the messages area)."""
    return text_of(page_of(response).find(id="messages"))


def field_error(response, field_id):
    """The text of a field's error element ('' when the field shows no error)."""
    box = page_of(response).find(id=f"{field_id}-error")
    if box is None or box.has_attr("hidden"):
        return ""
    return text_of(box)


# --- CSRF ------------------------------------------------------------------------------------------


def csrf_token(page):
    """The CSRF token a page carries in its <meta name="csrf-token"> (a response or its HTML)."""
    html = page if isinstance(page, str) else page.get_data(as_text=True)
    return unescape(re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1))


def log_in_with_csrf(client, email, password=PASSWORD):
    """Log a client of a CSRF-enforcing app in through the real login form, token and all."""
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


# --- browser pages (Playwright) --------------------------------------------------------------------


def watch_console(page):
    """Console errors, page errors and CSP violations seen from now on, in one list."""
    problems = []
    page.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    return problems


def log_in_staff(page, portal, admin):
    """Log a browser page in as a staff admin through the login form; it lands on the dashboard."""
    page.goto(f"{portal.url}/login")
    page.get_by_label("Email", exact=True).fill(admin.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{portal.url}/admin/")
