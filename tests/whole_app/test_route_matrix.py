"""Every route, as every kind of visitor, with the status each must get.

The routes come from app.url_map; EXPECTED holds one row per endpoint and method. A route added
without a row fails test_every_route_has_a_row, and the access tests below visit every rule the
app has, so nothing is left untested by omission. URL arguments always name objects of the
authorized user's account: the user of another account must get 404 there (tenant scoping).
"""
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import PASSWORD, count_queries
from flask import url_for
from helpers import AUDIT_TAMPERING

from webapp.accounts.models import Account, User
from webapp.audit.models import AuditEntry
from webapp.calendar import feed as calendar_feed
from webapp.calendar.models import CalendarFeed
from webapp.extensions import db
from webapp.identity import two_factor
from webapp.identity.models import RecoveryCode
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, ProofDocument
from webapp.licenses.proofs import Upload, store_upload

ANONYMOUS, UNAUTHORIZED, SUSPENDED, OTHER, AUTHORIZED, ADMIN, ADMIN_WITHOUT_CODE = ROLES = (
    "anonymous",
    "unauthorized user",
    "user of a suspended account",
    "user of another account",
    "authorized user",
    "admin",
    # An admin with an authenticator who gave the password but not yet the code.
    "admin who has not entered the code",
)
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Only the authorized user and the admin may ever see this plan: it belongs to the tested account.
SECRET_PLAN = "Office 365 E5 (Northwind only)"


@dataclass(frozen=True)
class Outcome:
    """What a visitor must get: a status, where a redirect goes, words on the page, whether the DB changes."""

    status: int
    location: str | None = None
    text: str | None = None
    writes: bool = False
    attachment: bool = False


LOGIN = Outcome(302, "/login")  # a GET comes back after login (next=the path); a POST does not
TO_TAB = Outcome(302, "/licenses")
TO_ADMIN = Outcome(302, "/admin/")
PORTAL_PAGE = Outcome(200, text="Client Licenses")
ADMIN_PAGE = Outcome(200, text="Accounts")
PAGE = Outcome(200, text="Log in")
DOWNLOAD = Outcome(200, attachment=True)
SAVED_TO_TAB = Outcome(302, "/licenses", writes=True)
SAVED_TO_ACCOUNT = Outcome(302, "/admin/accounts/{account_id}", writes=True)
REFUSED = Outcome(403, text="You cannot open the Onboarding Portal")
FORBIDDEN = Outcome(403, text="You may not open this page")
NOT_FOUND = Outcome(404, text="Not found")
FEED_MADE = Outcome(200, text="Your feed URL", writes=True)
TO_CODE = Outcome(302, "/login/code")
WRONG_CODE = Outcome(401, text="That code is not right")


def row(anonymous, unauthorized, suspended, other, authorized, admin, without_code=None):
    """One outcome per role; the admin without the code gets what the admin gets unless told otherwise."""
    without_code = admin if without_code is None else without_code
    return dict(zip(ROLES, (anonymous, unauthorized, suspended, other, authorized, admin, without_code)))


def customers_forbidden(admin):
    """A staff page: customers get 403, and an admin who has not entered the code is sent to enter it."""
    return row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, admin, TO_CODE)


EXPECTED = {
    "auth.login": {
        "GET": row(PAGE, TO_TAB, TO_TAB, TO_TAB, TO_TAB, TO_ADMIN),
        # Anonymous posts the authorized user's credentials; a logged-in user is simply sent home.
        "POST": row(TO_TAB, TO_TAB, TO_TAB, TO_TAB, TO_TAB, TO_ADMIN),
    },
    "auth.logout": {"POST": row(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)},
    # Anyone may ask for a reset link; the answer is the same for every email.
    "auth.forgot_password": {
        "GET": row(*[Outcome(200, text="Send reset link")] * 6),
        "POST": row(*[Outcome(200, text="is on its way")] * 6),
    },
    # The URL argument is not a Set password token (it is a feed's): refused for everyone.
    "auth.set_password": {
        "GET": row(*[Outcome(404, text="This link is not valid")] * 6),
        "POST": row(*[Outcome(404, text="This link is not valid")] * 6),
    },
    # No link was opened in these browsers, so no token is in their session: refused for everyone.
    "auth.set_password_form": {
        "GET": row(*[Outcome(404, text="This link is not valid")] * 6),
        "POST": row(*[Outcome(404, text="This link is not valid")] * 6),
    },
    # Any signed-in user, customer or staff; the matrix posts a wrong current password (a right
    # one would end the session the other rows reuse). A staff sign-in gives its code first.
    "auth.change_password": {
        "GET": row(LOGIN, *[Outcome(200, text="Current password")] * 5, TO_CODE),
        "POST": row(LOGIN, *[Outcome(422, text="This is not your current password")] * 5, TO_CODE),
    },
    "portal.index": {"GET": row(LOGIN, REFUSED, REFUSED, TO_TAB, TO_TAB, TO_ADMIN)},
    "portal.licenses": {"GET": row(LOGIN, REFUSED, REFUSED, PORTAL_PAGE, PORTAL_PAGE, TO_ADMIN)},
    "portal.new_license": {"GET": row(LOGIN, REFUSED, REFUSED, PORTAL_PAGE, PORTAL_PAGE, TO_ADMIN)},
    # The other account's user adds a license to their own account, never to the tested one.
    "portal.create_license": {"POST": row(LOGIN, REFUSED, REFUSED, SAVED_TO_TAB, SAVED_TO_TAB, TO_ADMIN)},
    "portal.license_history": {"GET": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, PORTAL_PAGE, TO_ADMIN)},
    "portal.update_license": {
        "GET": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, PORTAL_PAGE, TO_ADMIN),
        "POST": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, SAVED_TO_TAB, TO_ADMIN),
    },
    "portal.download_proof": {"GET": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, DOWNLOAD, TO_ADMIN)},
    # GET asks first (the page without JavaScript); POST removes the plan. Registered after every
    # other portal route, so the removal does not turn the authorized user's later visits into 404s.
    "portal.remove_license": {
        "GET": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, Outcome(200, text=f"Remove {SECRET_PLAN}?"), TO_ADMIN),
        "POST": row(LOGIN, REFUSED, REFUSED, NOT_FOUND, SAVED_TO_TAB, TO_ADMIN),
    },
    # The questions and answers are public: readable before signing in, and whatever the visitor's access.
    "portal.help": {"GET": row(*[Outcome(200, text="Proof of licensing: questions and answers")] * 7)},
    "admin.index": {"GET": customers_forbidden(ADMIN_PAGE)},
    "admin.account": {"GET": customers_forbidden(ADMIN_PAGE)},
    # GET is the confirmation page (the intent in the query string, see _query); POST makes the change.
    "admin.set_status": {
        "GET": customers_forbidden(Outcome(200, text="Suspend Northwind Traders?")),
        "POST": customers_forbidden(SAVED_TO_ACCOUNT),
    },
    "admin.set_enrollment": {
        "GET": customers_forbidden(Outcome(200, text="Switch Northwind Traders to provider subscription?")),
        "POST": customers_forbidden(SAVED_TO_ACCOUNT),
    },
    "admin.set_authorization": {
        "GET": customers_forbidden(Outcome(200, text="Authorize noauth@northwind.example?")),
        "POST": customers_forbidden(SAVED_TO_ACCOUNT),
    },
    "admin.rename_license": {"POST": customers_forbidden(Outcome(302, "/admin/licenses/{license_id}", writes=True))},
    "admin.review": {"POST": customers_forbidden(SAVED_TO_ACCOUNT)},
    "admin.reviews": {"GET": customers_forbidden(Outcome(200, text="Proof to review"))},
    # admin.review (registered first) has already reviewed the version: the queue leaves it alone.
    "admin.review_from_queue": {"POST": customers_forbidden(Outcome(302, "/admin/reviews"))},
    "admin.invite_user": {"POST": customers_forbidden(SAVED_TO_ACCOUNT)},
    "admin.set_access": {
        "GET": customers_forbidden(Outcome(200, text="Deactivate noauth@northwind.example?")),
        "POST": customers_forbidden(SAVED_TO_ACCOUNT),
    },
    "admin.license_history": {"GET": customers_forbidden(ADMIN_PAGE)},
    "admin.download_proof": {"GET": customers_forbidden(DOWNLOAD)},
    # The preview image, shown inline (made at this first view: the matrix's document was never read).
    "admin.proof_preview": {"GET": customers_forbidden(Outcome(200))},
    "admin.billing": {"GET": customers_forbidden(Outcome(200, text="Billing for the"))},
    "admin.billing_csv": {"GET": customers_forbidden(DOWNLOAD)},
    "admin.audit": {"GET": customers_forbidden(Outcome(200, text="Audit log"))},
    "admin.audit_csv": {"GET": customers_forbidden(DOWNLOAD)},
    # Each user sees their own account's activity only: the other account's user never the tested plan.
    "portal.activity": {"GET": row(LOGIN, REFUSED, REFUSED, Outcome(200, text="Activity"),
                                   Outcome(200, text="Activity"), TO_ADMIN)},
    # The API knows no sessions: a logged-in user or admin without a bearer token is nobody to it.
    "api.billing": {"GET": row(*[Outcome(401, text="A valid bearer token is required")] * 7)},
    "api.openapi_document": {"GET": row(*[Outcome(200, text="Client Licenses billing API")] * 7)},
    "portal.calendar": {"GET": row(LOGIN, REFUSED, REFUSED, PORTAL_PAGE, PORTAL_PAGE, TO_ADMIN)},
    # The other account's user makes a feed URL for their own account, never for the tested one.
    "portal.regenerate_calendar": {"POST": row(LOGIN, REFUSED, REFUSED, FEED_MADE, FEED_MADE, TO_ADMIN)},
    # The secret URL is the only key: whoever has it reads the feed, logged in or not.
    "feeds.calendar": {"GET": row(*[Outcome(200, text="BEGIN:VCALENDAR")] * 7)},
    # Only an admin whose sign-in still owes the code is asked for it; everyone else is sent home.
    "auth.second_factor": {
        "GET": row(LOGIN, TO_TAB, TO_TAB, TO_TAB, TO_TAB, TO_ADMIN, Outcome(200, text="Authentication code")),
        "POST": row(LOGIN, TO_TAB, TO_TAB, TO_TAB, TO_TAB, TO_ADMIN, WRONG_CODE),
    },
    # Enrolment is for staff; an admin with an authenticator gives its code first (no way around it).
    "auth.two_factor_setup": {
        "GET": row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN,
                   Outcome(200, text="Set up your authenticator"), TO_CODE),
        "POST": row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN,
                    Outcome(422, text="That code is not right"), TO_CODE),
    },
    # The matrix's admin has no authenticator yet: replacing recovery codes sends them to set one up.
    "auth.new_recovery_codes": {
        "POST": row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, Outcome(302, "/two-factor"), TO_CODE),
    },
}


def _routes(app):
    """{endpoint: methods} from the app's URL map, static files aside."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            routes.setdefault(rule.endpoint, set()).update(rule.methods - IGNORED_METHODS)
    return routes


def test_every_route_has_a_row(app):
    routes = _routes(app)
    assert set(routes) == set(EXPECTED), "add a row to EXPECTED for each new route (and drop rows of removed ones)"
    for endpoint, methods in routes.items():
        assert methods == set(EXPECTED[endpoint]), endpoint
        for method, outcomes in EXPECTED[endpoint].items():
            assert set(outcomes) == set(ROLES), (endpoint, method)


@pytest.fixture
def world(account, user, admin, make_account, make_user, office365, pdf, today):
    """The tested account with a license, a suspended account, another account with a license, a user per role."""
    suspended = make_account("Suspended Co", status=Account.SUSPENDED)
    other = make_account("Other Co")
    people = {
        UNAUTHORIZED: make_user("noauth@northwind.example", account=account, authorized=False),
        SUSPENDED: make_user("pat@suspended.example", account=suspended),
        OTHER: make_user("kim@other.example", account=other),
        AUTHORIZED: user,
        ADMIN: admin,
        ADMIN_WITHOUT_CODE: make_user("guarded@provider.example", admin=True),
    }
    with db.database.connection_context():
        User.update(totp_secret=two_factor.new_secret()).where(User.id == people[ADMIN_WITHOUT_CODE].id).execute()
        two_factor.issue_recovery_codes(people[ADMIN_WITHOUT_CODE].id)
    licenses = {}
    with db.database.connection_context():
        for owner, plan in ((account, SECRET_PLAN), (other, "Office 365 E1")):
            proof = store_upload(Upload(pdf, "application/pdf", "proof.pdf"), owner, None)
            terms = {
                "seats": 25,
                "term": "Yearly",
                "expires_on": today + timedelta(days=120),
                "tenant": "tenant.onmicrosoft.com",
                "contact_name": "Pat Doe",
                "contact_email": "pat@example.com",
            }
            licenses[owner.id] = license_store.add_license(owner, None, office365, plan, terms, proof)
    mine = licenses[account.id]
    with db.database.connection_context():
        # A feed of an account no visitor of the matrix can regenerate, so its URL holds for every route.
        feed_token = calendar_feed.issue_feed_token(make_account("Feed Co").id)
    return {
        "people": people,
        "args": {
            "license_id": mine.id,
            "document_id": mine.current.proof_id,
            "version_id": mine.current.id,
            "account_id": account.id,
            "user_id": people[UNAUTHORIZED].id,
            "token": feed_token,
        },
        "foreign": licenses[other.id],
        "account": account,
    }


def snapshot():
    """Everything a request could change, to tell a refused request left the database as it was."""
    with db.database.connection_context():
        return {
            "accounts": list(Account.select(Account.id, Account.status, Account.byol_enrolled).order_by(Account.id).tuples()),
            "users": list(
                User.select(User.id, User.is_authorized, User.totp_secret, User.totp_last_step, User.deactivated_at)
                .order_by(User.id).tuples()
            ),
            "licenses": list(
                License.select(License.id, License.plan, License.current, License.retired_at).order_by(License.id).tuples()
            ),
            "versions": list(
                LicenseVersion.select(LicenseVersion.id, LicenseVersion.review_status).order_by(LicenseVersion.id).tuples()
            ),
            "documents": ProofDocument.select().count(),
            "calendar feeds": list(CalendarFeed.select(CalendarFeed.account, CalendarFeed.token_hash).tuples()),
            "recovery codes": list(RecoveryCode.select(RecoveryCode.code_hash).order_by(RecoveryCode.code_hash).tuples()),
        }


def audit_rows():
    """Every audit entry, every column, in id order: a request may append to it, never change it."""
    with db.database.connection_context():
        return list(AuditEntry.select().order_by(AuditEntry.id).tuples())


def _body(endpoint, world, license_form):
    """A valid submission for each POST route, so only the visitor decides the outcome."""
    if endpoint == "auth.login":
        return {"email": world["people"][AUTHORIZED].email, "password": PASSWORD}
    if endpoint == "auth.forgot_password":
        return {"email": "nobody@northwind.example"}
    if endpoint in {"auth.change_password", "auth.set_password", "auth.set_password_form"}:
        return {"current_password": "not the password", "new_password": "a new passphrase here",
                "confirm_password": "a new passphrase here"}
    if endpoint == "portal.create_license":
        return license_form()
    if endpoint == "portal.update_license":
        return license_form(product=None, plan=None)
    if endpoint in ("auth.second_factor", "auth.two_factor_setup"):
        return {"code": "12345"}  # neither a TOTP code (six digits) nor a recovery code
    if endpoint in ("admin.review", "admin.review_from_queue"):
        return {"decision": "rejected", "reason": "The document shows a monthly plan."}
    # The tested account is active and enrolled, and user_id names its unauthorized user.
    if endpoint == "admin.set_status":
        return {"status": "suspended"}
    if endpoint == "admin.set_enrollment":
        return {"enrollment": "subscription"}
    if endpoint == "admin.invite_user":
        return {"email": "invited@northwind.example", "name": "Invited Person"}
    if endpoint == "admin.set_access":
        return {"access": "deactivated"}
    if endpoint == "admin.set_authorization":
        return {"authorization": "authorized"}
    if endpoint == "admin.rename_license":
        return {"plan": "Office 365 E5"}
    return {}


def _query(endpoint, method):
    """The query string of a GET that needs one: the confirmation pages read the intent from it."""
    if method != "GET":
        return None
    return {
        "admin.set_status": {"status": "suspended"},
        "admin.set_enrollment": {"enrollment": "subscription"},
        "admin.set_authorization": {"authorization": "authorized"},
        "admin.set_access": {"access": "deactivated"},
    }.get(endpoint)


def _problems(response, expected, path, method, role, args):
    """What is wrong with a response, as readable lines (empty when it is right)."""
    problems = []
    body = response.get_data().decode("utf-8", "replace")  # an image answer is no UTF-8
    if response.status_code != expected.status:
        problems.append(f"status {response.status_code}, expected {expected.status}")
    if expected.location:
        location = urlsplit(response.headers.get("Location", ""))
        if location.path != expected.location.format(**args):
            problems.append(f"redirects to {response.headers.get('Location')!r}, expected {expected.location}")
        if expected is LOGIN:
            came_from = parse_qs(location.query).get("next")
            wanted = [path] if method == "GET" and role == ANONYMOUS else None
            if came_from != wanted:
                problems.append(f"login next={came_from}, expected {wanted}")
    if expected.text and expected.text not in body:
        problems.append(f"page lacks {expected.text!r}")
    if expected.attachment and not response.headers.get("Content-Disposition", "").startswith("attachment"):
        problems.append("download is not an attachment")
    if role not in (AUTHORIZED, ADMIN) and SECRET_PLAN in body:
        problems.append("shows the tested account's license")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_every_route_as(role, app, world, login, license_form):
    problems = []
    session = None
    if role != ANONYMOUS:
        # One real login; each request then starts from a fresh client carrying that session.
        first = app.test_client()
        assert login(first, world["people"][role].email).status_code == 302
        session = first.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        missing = set(rule.arguments) - set(world["args"])
        if missing:
            problems.append(f"{rule.endpoint}: no test object for URL argument(s) {sorted(missing)}")
            continue
        args = {name: world["args"][name] for name in rule.arguments}
        with app.test_request_context():
            path = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods - IGNORED_METHODS):
            expected = EXPECTED.get(rule.endpoint, {}).get(method, {}).get(role)
            if expected is None:
                problems.append(f"{method} {path} ({rule.endpoint}): no row in EXPECTED")
                continue
            client = app.test_client()
            if session and rule.endpoint == "auth.logout":
                # Logging out ends the session for good: it gets a sign-in of its own.
                assert login(client, world["people"][role].email).status_code == 302
            elif session:
                client.set_cookie(app.config["SESSION_COOKIE_NAME"], session)
            before, entries_before = snapshot(), audit_rows()
            query = _query(rule.endpoint, method)
            with count_queries() as statements:
                response = client.open(path, method=method, data=_body(rule.endpoint, world, license_form),
                                       query_string=query)
            # A GET sent to log in first comes back with its query string.
            found = _problems(response, expected, f"{path}?{urlencode(query)}" if query else path, method, role,
                              world["args"])
            changed = snapshot() != before
            if changed != expected.writes:
                found.append("changed the database" if changed else "did not save anything")
            # The audit trail only grows: every earlier entry is still there, unchanged.
            if audit_rows()[: len(entries_before)] != entries_before:
                found.append("changed or deleted an audit entry")
            found += [f"ran {sql[:80]!r}" for sql in statements if AUDIT_TAMPERING.search(sql)]
            problems += [f"{method} {path} ({rule.endpoint}) as {role}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)


def _without_csrf_token(page):
    """The page with its CSRF token (time-stamped, so it changes by the second) blanked out."""
    return re.sub(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"', r'\1=""', page)


def test_foreign_ids_are_not_found_and_change_nothing(app, world, logged_in, license_form):
    """The authorized user names another account's license and proof: 404 every time, nothing written."""
    foreign = world["foreign"]
    renewal = lambda: license_form(product=None, plan=None)  # noqa: E731
    requests = [
        ("GET", "/licenses/{}", foreign.id, None),
        ("GET", "/licenses/{}/update", foreign.id, None),
        ("POST", "/licenses/{}/update", foreign.id, renewal),
        ("GET", "/proofs/{}", foreign.current.proof_id, None),
    ]
    before = snapshot()
    for method, path, foreign_id, body in requests:
        response = logged_in.open(path.format(foreign_id), method=method, data=body and body())
        assert response.status_code == 404, (method, path)
        text = response.get_data(as_text=True)
        assert "Office 365 E1" not in text and "%PDF" not in text
        # A foreign id reads exactly like one that does not exist: nothing tells them apart.
        missing = logged_in.open(path.format(999999), method=method, data=body and body())
        assert missing.status_code == 404
        assert _without_csrf_token(missing.get_data(as_text=True)) == _without_csrf_token(text)
    assert snapshot() == before
    with db.database.connection_context():
        assert LicenseVersion.select().where(LicenseVersion.license == foreign.id).count() == 1
