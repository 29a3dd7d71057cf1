"""Logging in and out, the `next` parameter, who is refused and how, sessions and CSRF."""
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import PASSWORD
from helpers import PRODUCTION_TOTP_KEY

from config import Config, TestConfig
from webapp import create_app
from webapp.accounts.models import Account, User
from webapp.extensions import db
from webapp.identity.models import LoginSession
from webapp.licenses.models import License

SUPPORT = TestConfig.SUPPORT_EMAIL
REFUSAL = "You cannot open the Onboarding Portal"


def hidden_value(html, name):
    """The value of a form's hidden input, as the browser would submit it."""
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no input named {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return unescape(value.group(1)) if value else ""


def csrf_token(html):
    return unescape(re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1))


# --- the login form ---------------------------------------------------------------------------


def test_login_page_has_the_named_fields(client):
    response = client.get("/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r"<label[^>]*>\s*Email\s*</label>", page)
    assert re.search(r"<label[^>]*>\s*Password\s*</label>", page)
    assert re.search(r"<button[^>]*>\s*Log in\s*</button>", page)


def test_login_lands_on_client_licenses(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/licenses"
    page = client.get("/licenses").get_data(as_text=True)
    assert "Client Licenses" in page and "Add License" in page and "Log out" in page


def test_login_ignores_email_case_and_spaces(client, user):
    response = client.post("/login", data={"email": f"  {user.email.upper()} ", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/licenses").status_code == 200


def test_admin_lands_on_the_admin_page(client, admin):
    response = client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert response.headers["Location"] == "/admin/"


def _comparable(response, email):
    page = response.get_data(as_text=True).replace(email, "EMAIL")
    return re.sub(re.escape(csrf_token(page)), "TOKEN", page)


def test_wrong_password_and_unknown_email_look_the_same(client, user):
    """No user enumeration: the answer does not say whether the email exists."""
    wrong = client.post("/login", data={"email": user.email, "password": "not the password"})
    unknown = client.post("/login", data={"email": "nobody@northwind.example", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not right." in wrong.get_data(as_text=True)
    # The page echoes the typed email and carries a time-stamped CSRF token; otherwise the answers are identical.
    assert _comparable(wrong, user.email) == _comparable(unknown, "nobody@northwind.example")
    assert client.get("/licenses").status_code == 302  # still not logged in


def test_empty_login_form_is_refused_with_messages(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert client.get("/licenses").status_code == 302


# --- next -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_target", "lands_on"),
    [
        ("/licenses/new", "/licenses/new"),
        ("/help?section=proof", "/help?section=proof"),
        ("//evil.com", "/licenses"),
        ("//evil.com/licenses", "/licenses"),
        ("https://evil.com", "/licenses"),
        ("http://evil.com/licenses", "/licenses"),
        ("https:evil.com", "/licenses"),
        ("/\\evil.com", "/licenses"),
        ("\\\\evil.com", "/licenses"),
        ("/\t/evil.com", "/licenses"),
        ("javascript:alert(1)", "/licenses"),
        ("help", "/licenses"),
        ("", "/licenses"),
    ],
    ids=repr,
)
def test_next_is_followed_only_within_the_site(client, user, next_target, lands_on):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": next_target})
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on


def test_anonymous_visitor_is_brought_back_after_login(client, user):
    response = client.get("/licenses/new")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert urlsplit(login_url).path == "/login"
    assert parse_qs(urlsplit(login_url).query)["next"] == ["/licenses/new"]

    login_page = client.get(login_url)
    page = login_page.get_data(as_text=True)
    assert "Please log in" in page
    came_from = hidden_value(page, "next")
    assert came_from == "/licenses/new"

    back = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": came_from})
    assert back.headers["Location"] == "/licenses/new"
    form = client.get(back.headers["Location"])
    assert form.status_code == 200 and "Proof of licensing" in form.get_data(as_text=True)


def test_anonymous_visitor_to_the_tab_is_brought_back_to_it(client, user):
    login_url = client.get("/licenses").headers["Location"]
    came_from = hidden_value(client.get(login_url).get_data(as_text=True), "next")
    back = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": came_from})
    assert back.headers["Location"] == "/licenses"


# --- refusals ---------------------------------------------------------------------------------


def _refusal(client, email):
    """Log in as `email` and open the portal; return the response."""
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client.get(response.headers["Location"])


def _never_the_portal(page):
    assert REFUSAL in page
    assert "Add License" not in page
    assert 'href="/licenses"' not in page
    assert "Traceback" not in page


def test_unauthorized_user_is_told_why_and_whom_to_ask(client, make_user, account):
    make_user("noauth@northwind.example", account=account, authorized=False)
    response = _refusal(client, "noauth@northwind.example")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    _never_the_portal(page)
    assert "not an authorized user" in page
    assert account.name in page
    assert f"mailto:{SUPPORT}" in page
    for path in ("/licenses", "/licenses/new", "/"):
        assert client.get(path).status_code == 403, path
    # The questions and answers (/help) are public: the one portal page the refused user may read.
    assert client.get("/help").status_code == 200


def test_suspended_account_is_told_why_and_whom_to_ask(client, make_user, make_account):
    suspended = make_account("Suspended Co", status=Account.SUSPENDED)
    make_user("pat@suspended.example", account=suspended)
    response = _refusal(client, "pat@suspended.example")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    _never_the_portal(page)
    assert "suspended" in page and "Suspended Co" in page
    assert f"mailto:{SUPPORT}" in page


def test_support_email_comes_from_configuration(database_url, make_user, account):
    app = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False,
                     SUPPORT_EMAIL="help@hoster.test", PROVIDER_NAME="Hoster Ltd")
    make_user("noauth@northwind.example", account=account, authorized=False)
    page = _refusal(app.test_client(), "noauth@northwind.example").get_data(as_text=True)
    assert "mailto:help@hoster.test" in page and "Hoster Ltd" in page
    assert SUPPORT not in page


def _admin_sets(app, admin_email, path, intent):
    staff = app.test_client()
    staff.post("/login", data={"email": admin_email, "password": PASSWORD})
    assert staff.post(path, data=intent).status_code == 302


def test_deauthorized_user_is_signed_out_on_the_very_next_request(app, logged_in, user, admin, license_form):
    assert logged_in.get("/licenses").status_code == 200
    _admin_sets(app, admin.email, f"/admin/users/{user.id}/authorization", {"authorization": "unauthorized"})
    with db.database.connection_context():
        assert not User.get_by_id(user.id).is_authorized
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 0

    # The session ended with the authorization: the next request goes to the login page.
    response = logged_in.get("/licenses")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    with db.database.connection_context():
        assert License.select().count() == 0

    # Signing in again shows why the portal is closed.
    refused = _refusal(logged_in, user.email)
    assert refused.status_code == 403
    assert "not an authorized user" in refused.get_data(as_text=True)
    assert logged_in.post("/licenses", data=license_form()).status_code == 403
    with db.database.connection_context():
        assert License.select().count() == 0


def test_suspended_account_is_signed_out_on_the_very_next_request(app, logged_in, account, admin, license_form):
    assert logged_in.get("/licenses").status_code == 200
    _admin_sets(app, admin.email, f"/admin/accounts/{account.id}/status", {"status": "suspended"})

    response = logged_in.get("/licenses")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    refused = _refusal(logged_in, "pat@northwind.example")
    assert refused.status_code == 403
    assert "suspended" in refused.get_data(as_text=True)
    assert logged_in.post("/licenses", data=license_form()).status_code == 403
    with db.database.connection_context():
        assert License.select().count() == 0

    # Reactivating does not bring the ended session back, but the sign-in after the suspension works now.
    _admin_sets(app, admin.email, f"/admin/accounts/{account.id}/status", {"status": "active"})
    assert logged_in.get("/licenses").status_code == 200


# --- the session ------------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_lax(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookies[0].split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"] == "SameSite=Lax"


def test_production_session_cookie_is_also_secure(database_url, user):
    production = create_app(Config, DATABASE_URL=database_url, PORTAL_ENV="production", SECRET_KEY="k" * 32,
                            WTF_CSRF_ENABLED=False, TOTP_ENCRYPTION_KEYS=PRODUCTION_TOTP_KEY)
    response = production.test_client().post("/login", data={"email": user.email, "password": PASSWORD})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


def test_logout_is_post_only(logged_in):
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.get("/licenses").status_code == 200  # the GET did not log anyone out
    response = logged_in.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are logged out." in logged_in.get("/login").get_data(as_text=True)
    assert logged_in.get("/licenses").status_code == 302


def test_htmx_request_from_an_expired_session_is_sent_to_login(client, user):
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    client.delete_cookie("session")  # the browser dropped the session (expired or cleared)
    response = client.get(
        "/licenses/new",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/licenses?sort=date"},
    )
    assert response.status_code == 401
    target = urlsplit(response.headers["HX-Redirect"])
    assert target.path == "/login"
    # After logging in, the user returns to the page they had open, not to the fragment's URL.
    assert parse_qs(target.query)["next"] == ["/licenses?sort=date"]


def test_htmx_post_from_an_expired_session_is_sent_to_login_and_saves_nothing(client, user, license_form):
    response = client.post(
        "/licenses",
        data=license_form(),
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/licenses"},
    )
    assert response.status_code == 401
    assert urlsplit(response.headers["HX-Redirect"]).path == "/login"
    with db.database.connection_context():
        assert License.select().count() == 0


# --- CSRF -------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app, database_url):
    """A client of an app that enforces CSRF, on the same (emptied) database."""
    return create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=True).test_client()


def test_login_without_csrf_token_is_refused_clearly(csrf_client, user):
    response = csrf_client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The form expired" in page and "nothing was saved" in page
    assert csrf_client.get("/licenses").status_code == 302  # not logged in


def test_login_with_csrf_token_works(csrf_client, user):
    token = hidden_value(csrf_client.get("/login").get_data(as_text=True), "csrf_token")
    response = csrf_client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert csrf_client.get("/licenses").status_code == 200


def test_logout_without_csrf_token_is_refused(csrf_client, user):
    token = hidden_value(csrf_client.get("/login").get_data(as_text=True), "csrf_token")
    csrf_client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    page = csrf_client.get("/licenses").get_data(as_text=True)

    refused = csrf_client.post("/logout")
    assert refused.status_code == 400
    assert "The form expired" in refused.get_data(as_text=True)
    assert csrf_client.get("/licenses").status_code == 200  # still logged in

    # The page's Log out form carries the token, and so does the htmx header.
    assert csrf_client.post("/logout", headers={"X-CSRFToken": csrf_token(page)}).status_code == 302
    assert csrf_client.get("/licenses").status_code == 302


def test_logout_form_on_the_page_carries_the_token(csrf_client, user):
    token = hidden_value(csrf_client.get("/login").get_data(as_text=True), "csrf_token")
    csrf_client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    page = csrf_client.get("/licenses").get_data(as_text=True)
    logout_form = re.search(r'<form[^>]*action="/logout".*?</form>', page, re.S).group(0)
    assert "Log out" in logout_form
    response = csrf_client.post("/logout", data={"csrf_token": hidden_value(logout_form, "csrf_token")})
    assert response.status_code == 302
    assert csrf_client.get("/licenses").status_code == 302
