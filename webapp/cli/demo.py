"""Demo data for `flask seed-demo`: one account with a license in every status."""
import secrets
from datetime import timedelta

from flask import current_app

from ..accounts.models import Account, User
from ..extensions import db
from ..identity.sessions import change_password
from ..licenses import store as license_store
from ..licenses.document_text import Limits
from ..licenses.models import LicenseVersion, Product
from ..licenses.proofs import Upload, store_upload, with_text
from ..review.store import review_version

DEMO_ACCOUNT = "Contoso Demo Ltd"
DEMO_USER = "alex@contoso.example"
DEMO_UNAUTHORIZED_USER = "sam@contoso.example"
DEMO_ADMIN = "admin@provider.example"


def demo_pdf(text):
    """A small valid one-page PDF that shows `text`."""
    text = text.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_of(objects)


def pdf_of(objects):
    """A PDF file of `objects` (object 1 is the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _user(email, account, name, authorized=False, admin=False):
    user, _ = User.get_or_create(
        email=email,
        defaults={"account": account, "name": name, "is_authorized": authorized, "is_admin": admin,
                  "password_hash": "!"},
    )
    password = secrets.token_urlsafe(9)
    change_password(user, password)
    return password


def seed(today):
    """Create (or refresh) the demo account, users and licenses; return the printed credentials."""
    with db.database.atomic():
        account, created = Account.get_or_create(name=DEMO_ACCOUNT)
        credentials = [
            ("authorized user", DEMO_USER, _user(DEMO_USER, account, "Alex Wilber", authorized=True)),
            ("user who is not authorized", DEMO_UNAUTHORIZED_USER,
             _user(DEMO_UNAUTHORIZED_USER, account, "Sam Taylor")),
            ("admin", DEMO_ADMIN, _user(DEMO_ADMIN, None, "Provider Admin", admin=True)),
        ]
        if created:
            _seed_licenses(account, today)
    return credentials


def _seed_licenses(account, today):
    product = Product.get(Product.name == "MS Office 365")
    samples = [
        ("Microsoft 365 Business Standard", 25, today + timedelta(days=200), None),
        ("Office 365 E3", 10, today + timedelta(days=21), None),
        ("Microsoft 365 Business Premium", 5, today - timedelta(days=6), None),
        ("Office 365 E1", 8, today + timedelta(days=120), "The document shows a monthly plan."),
        ("Office 365 E5", 3, today + timedelta(days=300), None),
    ]
    # Saved anyway against a document that says otherwise: not counted until staff accept it.
    saved_anyway = {"Office 365 E5": "We added 3 seats on the 1st; the invoice attached shows the order before."}
    for plan, seats, expires_on, rejection in samples:
        upload = Upload(demo_pdf(f"Proof of licensing: {plan}, {seats} licenses, ends {expires_on}"),
                        "application/pdf", f"{plan}.pdf")
        proof = store_upload(with_text(upload, Limits.from_config(current_app.config)), account, None)
        terms = {
            "seats": seats, "term": "Yearly", "expires_on": expires_on,
            "tenant": "contosodemo.onmicrosoft.com",
            "contact_name": "Alex Wilber", "contact_email": DEMO_USER,
        }
        if plan in saved_anyway:
            terms |= {"saved_anyway": True, "customer_note": saved_anyway[plan]}
        license = license_store.add_license(account, None, product, plan, terms, proof)
        if rejection:
            review_version(license.current.id, LicenseVersion.REJECTED, rejection)
