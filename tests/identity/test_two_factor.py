"""Staff sign in with a second factor: enrolment (QR code, secret, first code, recovery codes shown
once), the code after the password, single use of each code, throttling of wrong codes, the
ADMIN_2FA_REQUIRED gate and `flask reset-2fa`.

The domain functions are tested at chosen times (pyotp computes the code for that moment); the
views run at the real time, with codes pyotp computes for now, so nothing sleeps.
"""
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from config import Config, TestConfig
from webapp import create_app
from webapp.accounts.models import User
from webapp.audit.models import AuditEntry
from webapp.core.clock import utcnow
from webapp.core.limiter import Counter
from webapp.extensions import db
from webapp.identity import two_factor
from webapp.identity.models import LoginSession, RecoveryCode

# A fixed moment (2027-01-15 08:00:00 UTC), in the middle of a 30 s step.
T = 1_800_000_015


@pytest.fixture
def secret():
    return pyotp.random_base32()


@pytest.fixture
def enrolled_admin(admin, secret):
    """The admin, with an authenticator for `secret` (as if enrolled) and no code used yet."""
    with db.database.connection_context():
        User.update(totp_secret=secret).where(User.id == admin.id).execute()
    return admin


def code_at(secret, moment):
    return pyotp.TOTP(secret).at(moment)


def _user(user_id):
    with db.database.connection_context():
        return User.get_by_id(user_id)


def _path(response):
    return urlsplit(response.headers.get("Location", "")).path


def _secret_on(page):
    found = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)</code>', page)
    assert found, "the enrolment page shows no secret"
    return found.group(1).replace(" ", "")


# -- codes at chosen times ---------------------------------------------------------------------

def test_a_code_counts_one_step_either_side_of_now_and_no_further(secret):
    step = pyotp.TOTP(secret).timecode(T)
    assert two_factor.matching_step(secret, code_at(secret, T), T) == step
    assert two_factor.matching_step(secret, code_at(secret, T - 30), T) == step - 1
    assert two_factor.matching_step(secret, code_at(secret, T + 30), T) == step + 1
    stale = code_at(secret, T - 90)
    if stale not in {code_at(secret, T + k * 30) for k in (-1, 0, 1)}:
        assert two_factor.matching_step(secret, stale, T) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123 456 7"])
def test_what_is_not_six_ascii_digits_is_no_code(secret, typed):
    assert two_factor.matching_step(secret, typed, T) is None


def test_a_code_with_spaces_as_apps_show_it_counts(secret):
    code = code_at(secret, T)
    assert two_factor.matching_step(secret, f" {code[:3]} {code[3:]} ", T) is not None


def test_each_code_is_accepted_once_and_never_one_older_than_the_last(app, enrolled_admin, secret):
    with db.database.connection_context():
        assert two_factor.verify_totp(enrolled_admin.id, code_at(secret, T), now=T)
        # The same code again, still within its window: a replay.
        assert not two_factor.verify_totp(enrolled_admin.id, code_at(secret, T), now=T + 10)
        # The next step's code is new.
        assert two_factor.verify_totp(enrolled_admin.id, code_at(secret, T + 30), now=T + 30)
        # The step before it is still inside the window at T + 30, but older than the last one used.
        assert not two_factor.verify_totp(enrolled_admin.id, code_at(secret, T), now=T + 30)
        assert User.get_by_id(enrolled_admin.id).totp_last_step == pyotp.TOTP(secret).timecode(T + 30)


def test_an_admin_without_an_authenticator_has_no_code(app, admin, secret):
    with db.database.connection_context():
        assert not two_factor.verify_totp(admin.id, code_at(secret, T), now=T)


def test_enrolment_needs_the_secrets_code_and_happens_once(app, admin, secret):
    with db.database.connection_context():
        wrong = pyotp.TOTP(pyotp.random_base32()).at(T)
        if wrong != code_at(secret, T):
            assert two_factor.enrol(admin.id, secret, wrong, now=T) is None
            assert User.get_by_id(admin.id).totp_secret is None
        codes = two_factor.enrol(admin.id, secret, code_at(secret, T), now=T)
        assert len(codes) == 10 == len(set(codes))
        assert User.get_by_id(admin.id).totp_secret == secret
        # The confirming code is used: it cannot sign in again.
        assert not two_factor.verify_totp(admin.id, code_at(secret, T), now=T)
        another = pyotp.random_base32()
        with pytest.raises(two_factor.AlreadyEnrolled):
            two_factor.enrol(admin.id, another, code_at(another, T + 30), now=T + 30)
        assert User.get_by_id(admin.id).totp_secret == secret


def test_recovery_codes_are_stored_hashed_and_work_once(app, admin, make_user):
    other = make_user("other-staff@provider.example", admin=True)
    with db.database.connection_context():
        codes = two_factor.issue_recovery_codes(admin.id)
        stored = [row.code_hash for row in RecoveryCode.select().where(RecoveryCode.user == admin.id)]
        assert len(stored) == 10
        assert not set(stored) & set(codes)
        assert all(code.replace("-", "") not in "".join(stored) for code in codes)

        assert not two_factor.use_recovery_code(other.id, codes[0])  # another admin's code
        assert two_factor.use_recovery_code(admin.id, codes[0].upper().replace("-", " "))
        assert not two_factor.use_recovery_code(admin.id, codes[0])
        assert two_factor.recovery_codes_left(admin.id) == 9
        assert not two_factor.use_recovery_code(admin.id, "")
        assert not two_factor.use_recovery_code(admin.id, "x" * 10_000)

        # New codes replace the old ones.
        two_factor.issue_recovery_codes(admin.id)
        assert not two_factor.use_recovery_code(admin.id, codes[1])


# -- enrolment with the test client -------------------------------------------------------------

def test_enrolment_shows_a_qr_code_and_the_secret_then_the_recovery_codes_once(app, client, admin, login):
    assert _path(login(client, admin.email)) == "/admin/"  # not required here: the test config
    page = client.get("/two-factor")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Set up your authenticator" in text
    svg = re.search(r"<svg.*?</svg>", text, re.S).group(0)
    assert "<path" in svg and "style=" not in svg  # drawn on the server; nothing the CSP refuses
    secret = _secret_on(text)
    # The secret is kept with this sign-in on the server; a reload shows the same one.
    assert _secret_on(client.get("/two-factor").get_data(as_text=True)) == secret

    wrong = client.post("/two-factor", data={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 422
    assert "That code is not right" in wrong.get_data(as_text=True)
    assert _user(admin.id).totp_secret is None

    done = client.post("/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    shown = done.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code></li>", shown)
    assert len(codes) == 10
    assert "They are shown only now." in shown
    assert done.headers["Cache-Control"] == "no-store"
    assert _user(admin.id).totp_secret == secret
    with db.database.connection_context():
        assert RecoveryCode.select().where(RecoveryCode.user == admin.id).count() == 10
        assert LoginSession.get(LoginSession.user == admin.id).pending_totp_secret is None

    again = client.get("/two-factor").get_data(as_text=True)
    assert "Your authenticator app is set up" in again and "10 unused recovery codes" in again
    assert not any(code in again for code in codes)
    assert client.get("/admin/").status_code == 200  # this sign-in passed with the first code


def test_a_form_cannot_choose_the_secret(app, client, admin, login, secret):
    login(client, admin.email)
    client.get("/two-factor")
    response = client.post("/two-factor", data={"code": code_at(secret, time.time()),
                                                "secret": secret, "totp_secret": secret})
    assert response.status_code == 422
    assert _user(admin.id).totp_secret is None


# -- signing in with the code --------------------------------------------------------------------

def test_an_admin_without_the_code_cannot_reach_any_admin_page(app, client, enrolled_admin, login):
    signed_in = login(client, enrolled_admin.email)
    assert signed_in.status_code == 302 and _path(signed_in) == "/login/code"
    for path in ("/admin/", "/admin/billing", "/admin/billing.csv"):
        response = client.get(path)
        assert response.status_code == 302 and _path(response) == "/login/code", path
        assert "Accounts" not in response.get_data(as_text=True)
    htmx = client.get("/admin/", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and urlsplit(htmx.headers["HX-Redirect"]).path == "/login/code"
    page = client.get("/login/code").get_data(as_text=True)
    assert "Authentication code" in page and "Verify" in page
    assert 'href="/admin/"' not in page and "Log out" in page  # no staff menu yet; logging out works


def test_the_code_after_the_password_opens_the_admin_pages(app, client, enrolled_admin, login, secret):
    login(client, enrolled_admin.email)
    wrong = client.post("/login/code", data={"code": "12345"})
    assert wrong.status_code == 401 and "That code is not right" in wrong.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302

    right = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert right.status_code == 302 and _path(right) == "/admin/"
    assert 'href="/admin/"' in client.get("/admin/").get_data(as_text=True)
    assert client.get("/login/code").status_code == 302  # nothing more is owed


def _with_cookie(app, value):
    """A new browser holding one session cookie value."""
    browser = app.test_client()
    browser.set_cookie("session", value)
    return browser


def test_the_sign_in_gets_a_new_id_when_the_code_is_given(app, client, enrolled_admin, login, secret):
    """A copy of the cookie taken between the password and the code is worth nothing afterwards."""
    login(client, enrolled_admin.email)
    before = client.get_cookie("session").value
    assert client.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    stolen = _with_cookie(app, before).get("/admin/")
    assert stolen.status_code == 302 and _path(stolen) == "/login"
    assert _with_cookie(app, after).get("/admin/").status_code == 200
    with db.database.connection_context():  # renewed, not added: one sign-in, one row
        assert LoginSession.select().where(LoginSession.user == enrolled_admin.id).count() == 1


def test_the_sign_in_gets_a_new_id_when_enrolment_ends(app, client, admin, login):
    login(client, admin.email)
    secret = _secret_on(client.get("/two-factor").get_data(as_text=True))
    before = client.get_cookie("session").value
    assert client.post("/two-factor", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
    after = client.get_cookie("session").value
    assert after != before
    assert _path(_with_cookie(app, before).get("/admin/")) == "/login"
    assert _with_cookie(app, after).get("/admin/").status_code == 200
    with db.database.connection_context():
        assert LoginSession.select().where(LoginSession.user == admin.id).count() == 1


def test_the_page_asked_for_first_is_opened_after_the_code(app, client, enrolled_admin, secret):
    signed_in = client.post("/login", data={"email": enrolled_admin.email, "password": "correct horse battery staple",
                                            "next": "/admin/billing"})
    location = urlsplit(signed_in.headers["Location"])
    assert location.path == "/login/code" and parse_qs(location.query) == {"next": ["/admin/billing"]}
    verified = client.post("/login/code", data={"code": pyotp.TOTP(secret).now(), "next": "/admin/billing"})
    assert _path(verified) == "/admin/billing"
    offsite = client.post("/login/code", data={"code": "x", "next": "https://evil.example/"})
    assert offsite.status_code == 302 and _path(offsite) == "/admin/"  # already verified: sent home


def test_a_code_used_once_is_refused_in_another_sign_in(app, enrolled_admin, login, secret):
    code = pyotp.TOTP(secret).now()
    first, second = app.test_client(), app.test_client()
    login(first, enrolled_admin.email)
    login(second, enrolled_admin.email)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    replay = second.post("/login/code", data={"code": code})
    assert replay.status_code == 401
    assert second.get("/admin/").status_code == 302


def test_a_recovery_code_signs_in_once(app, enrolled_admin, login):
    with db.database.connection_context():
        codes = two_factor.issue_recovery_codes(enrolled_admin.id)
    first, second = app.test_client(), app.test_client()
    login(first, enrolled_admin.email)
    used = first.post("/login/code", data={"code": codes[3]}, follow_redirects=True)
    assert used.status_code == 200 and "Accounts" in used.get_data(as_text=True)
    assert "9 of them are left" in used.get_data(as_text=True)
    login(second, enrolled_admin.email)
    assert second.post("/login/code", data={"code": codes[3]}).status_code == 401
    assert second.post("/login/code", data={"code": codes[4]}).status_code == 302


def test_wrong_codes_are_throttled_apart_from_logins(app, client, enrolled_admin, login, secret):
    app.config.update(LOGIN_MAX_FAILURES_PER_EMAIL=2)
    login(client, enrolled_admin.email)
    for _ in range(2):
        assert client.post("/login/code", data={"code": "12345"}).status_code == 401
    paused = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert paused.status_code == 429
    assert "Too many wrong codes" in paused.get_data(as_text=True)
    assert 1 <= int(paused.headers["Retry-After"]) <= 15 * 60 + 1
    assert client.get("/admin/").status_code == 302  # the right code did not count while paused
    # The code is paused for this admin from any sign-in; the password itself is not.
    other = app.test_client()
    assert _path(login(other, enrolled_admin.email)) == "/login/code"
    assert other.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 429
    # Once the window is over, the right code works and clears the admin's counter.
    with db.database.connection_context():
        Counter.update(window_start=utcnow() - timedelta(minutes=16)).execute()
    assert other.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302


def test_customers_are_never_asked_for_a_code(app, logged_in):
    assert _path(logged_in.get("/login/code")) == "/licenses"
    assert logged_in.get("/two-factor").status_code == 403
    assert logged_in.get("/licenses").status_code == 200


# -- ADMIN_2FA_REQUIRED ----------------------------------------------------------------------------

def test_required_by_default_in_production_and_off_in_the_demo(app, database_url, monkeypatch):
    monkeypatch.delenv("ADMIN_2FA_REQUIRED", raising=False)
    assert Config.ADMIN_2FA_REQUIRED is True
    demo = type("DemoConfig", (TestConfig,), {"PORTAL_ENV": "development", "ADMIN_2FA_REQUIRED": True})
    assert create_app(demo, DATABASE_URL=database_url).config["ADMIN_2FA_REQUIRED"] is False
    monkeypatch.setenv("ADMIN_2FA_REQUIRED", "true")
    assert create_app(demo, DATABASE_URL=database_url).config["ADMIN_2FA_REQUIRED"] is True


def test_when_required_an_admin_without_an_authenticator_enrols_before_any_admin_page(app, client, admin, login):
    app.config.update(ADMIN_2FA_REQUIRED=True)
    signed_in = login(client, admin.email)
    assert _path(signed_in) == "/two-factor"
    for path in ("/admin/", "/admin/billing"):
        response = client.get(path)
        assert response.status_code == 302 and _path(response) == "/two-factor", path
    page = client.get("/two-factor").get_data(as_text=True)
    assert "Set one up now to open the admin pages" in " ".join(page.split())
    secret = _secret_on(page)
    done = client.post("/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "I have saved them: continue" in done.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200
    # The next sign-in asks for the code.
    again = app.test_client()
    assert _path(login(again, admin.email)) == "/login/code"


def test_when_required_customers_are_not_asked_to_enrol(app, logged_in):
    app.config.update(ADMIN_2FA_REQUIRED=True)
    assert logged_in.get("/licenses").status_code == 200


# -- flask reset-2fa ---------------------------------------------------------------------------

def test_reset_2fa_clears_the_authenticator_and_ends_the_sessions(app, client, runner, enrolled_admin, login, secret):
    login(client, enrolled_admin.email)
    assert client.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    with db.database.connection_context():
        two_factor.issue_recovery_codes(enrolled_admin.id)

    result = runner.invoke(args=["reset-2fa", f"  {enrolled_admin.email.upper()} "])
    assert result.exit_code == 0, result.output
    assert "cleared" in result.output and "1 session" in result.output
    reset = _user(enrolled_admin.id)
    assert reset.totp_secret is None and reset.totp_last_step is None
    with db.database.connection_context():
        assert RecoveryCode.select().where(RecoveryCode.user == enrolled_admin.id).count() == 0
    assert _path(client.get("/admin/")) == "/login"  # the old session's cookie is refused

    app.config.update(ADMIN_2FA_REQUIRED=True)
    assert _path(login(app.test_client(), enrolled_admin.email)) == "/two-factor"


def test_reset_2fa_of_an_unknown_email_fails(runner, app):
    result = runner.invoke(args=["reset-2fa", "nobody@provider.example"])
    assert result.exit_code != 0
    assert "No user with the email nobody@provider.example" in result.output


HOSTILE_CODES = ["", " ", "\x00", "12\x003456", "\u202e123456", "١٢٣٤٥٦", "１２３４５６", "-1", "9" * 64, "9" * 65,
                 "x" * 10_000, "' OR 1=1 --", "{{ 7*7 }}", "\ud7ff", "😀" * 30, "aaaa-bbbb-cccc-dddd"]


@pytest.mark.parametrize("code", HOSTILE_CODES)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_hostile_codes_are_refused_without_a_server_error(app, enrolled_admin, admin_without, login, code, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    for who, path in ((enrolled_admin, "/login/code"), (admin_without, "/two-factor")):
        client = app.test_client()
        login(client, who.email)
        client.get(path)
        response = client.post(path, data={"code": code, "next": code}, headers=headers)
        assert response.status_code in (401, 422), (path, response.status_code)
        assert client.get("/admin/billing").status_code == (302 if who is enrolled_admin else 200)
    assert _user(admin_without.id).totp_secret is None


@pytest.fixture
def admin_without(make_user):
    """A second admin, with no authenticator."""
    return make_user("new-staff@provider.example", admin=True)


def test_reset_2fa_refuses_a_customers_email_and_changes_nothing(app, runner, user, login):
    client = app.test_client()
    login(client, user.email)
    with db.database.connection_context():
        entries_before = AuditEntry.select().count()

    result = runner.invoke(args=["reset-2fa", user.email])

    assert result.exit_code == 1
    assert f"{user.email} is not a staff admin" in result.output and "Nothing was changed" in result.output
    assert client.get("/licenses").status_code == 200  # the customer's session goes on
    with db.database.connection_context():
        assert AuditEntry.select().count() == entries_before
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 1


def test_reset_2fa_refuses_hidden_characters_in_the_email(runner, app):
    result = runner.invoke(args=["reset-2fa", "staff@provider.example\x00"])
    assert result.exit_code == 2
    assert "invisible or control character" in result.output


@pytest.fixture
def at_moment(app):
    """Set the moment the views check codes at (the app's CLOCK setting, a Unix timestamp here); returns the setter."""

    def set_moment(moment):
        app.config["CLOCK"] = lambda: datetime.fromtimestamp(moment, timezone.utc).replace(tzinfo=None)

    return set_moment


def test_sign_in_at_chosen_moments_takes_each_step_once(app, enrolled_admin, login, secret, at_moment):
    at_moment(T)
    first, second, third = app.test_client(), app.test_client(), app.test_client()
    for client in (first, second, third):
        login(client, enrolled_admin.email)
    stale = code_at(secret, T - 90)
    if stale not in {code_at(secret, T + k * 30) for k in (-1, 0, 1)}:
        assert first.post("/login/code", data={"code": stale}).status_code == 401  # outside the window
    assert first.post("/login/code", data={"code": code_at(secret, T)}).status_code == 302

    at_moment(T + 20)  # the same step: its code was used
    assert second.post("/login/code", data={"code": code_at(secret, T)}).status_code == 401
    at_moment(T + 30)  # the next step: a new code, and the spent one stays spent inside the window
    assert second.post("/login/code", data={"code": code_at(secret, T)}).status_code == 401
    assert second.post("/login/code", data={"code": code_at(secret, T + 30)}).status_code == 302
    at_moment(T + 45)  # a phone 30 s ahead shows the step after: it counts, once
    assert third.post("/login/code", data={"code": code_at(secret, T + 75)}).status_code == 302
    assert _user(enrolled_admin.id).totp_last_step == pyotp.TOTP(secret).timecode(T + 75)


def test_enrolment_at_a_chosen_moment(app, client, admin, login, at_moment):
    at_moment(T)
    login(client, admin.email)
    secret = _secret_on(client.get("/two-factor").get_data(as_text=True))
    late = code_at(secret, T - 120)
    if late not in {code_at(secret, T + k * 30) for k in (-1, 0, 1)}:
        assert client.post("/two-factor", data={"code": late}).status_code == 422
    assert client.post("/two-factor", data={"code": code_at(secret, T - 30)}).status_code == 200
    # The confirming code's step is spent: the code after the next password must be a later one.
    again = app.test_client()
    login(again, admin.email)
    assert again.post("/login/code", data={"code": code_at(secret, T - 30)}).status_code == 401
    assert again.post("/login/code", data={"code": code_at(secret, T)}).status_code == 302


def test_change_password_asks_for_the_code_first_and_keeps_it_after(app, client, enrolled_admin, login, secret):
    new_password = "a brand new staff passphrase"
    form = {"current_password": "correct horse battery staple", "new_password": new_password,
            "confirm_password": new_password}
    login(client, enrolled_admin.email)
    before_code = client.post("/password/change", data=form)
    assert before_code.status_code == 302 and _path(before_code) == "/login/code"
    assert _user(enrolled_admin.id).check_password("correct horse battery staple")  # the password alone changed nothing

    client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    changed = client.post("/password/change", data=form)
    assert changed.status_code == 302 and _path(changed) == "/admin/"
    assert _user(enrolled_admin.id).check_password(new_password)
    assert client.get("/admin/").status_code == 200  # the new session carries the code given in this browser


def test_a_verified_admin_replaces_the_recovery_codes(app, client, enrolled_admin, login, secret):
    with db.database.connection_context():
        old = two_factor.issue_recovery_codes(enrolled_admin.id)
    login(client, enrolled_admin.email)
    # Before the code, the replacement is refused: a password alone must not mint recovery codes.
    refused = client.post("/two-factor/recovery-codes")
    assert refused.status_code == 302 and _path(refused) == "/login/code"
    with db.database.connection_context():
        assert two_factor.recovery_codes_left(enrolled_admin.id) == 10
    client.post("/login/code", data={"code": old[0]})

    page = client.get("/two-factor").get_data(as_text=True)
    assert "9 unused recovery codes" in page and "Replace my recovery codes" in page
    replaced = client.post("/two-factor/recovery-codes")
    assert replaced.status_code == 200
    text = replaced.get_data(as_text=True)
    new = re.findall(r"<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code></li>", text)
    assert len(new) == 10 and not set(new) & set(old)
    assert "Your earlier recovery codes no longer work." in text
    with db.database.connection_context():
        assert not two_factor.use_recovery_code(enrolled_admin.id, old[1])
        assert two_factor.use_recovery_code(enrolled_admin.id, new[0])


def test_changing_the_password_keeps_the_authenticator_secret_as_it_was(app, client, enrolled_admin, login, secret):
    # The user saved with the new password must not write its secret again (sealed once more, it
    # would no longer read back as the secret, and PostgreSQL refuses its length).
    new_password = "another brand new staff passphrase"
    form = {"current_password": "correct horse battery staple", "new_password": new_password,
            "confirm_password": new_password}
    login(client, enrolled_admin.email)
    client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert client.post("/password/change", data=form).status_code == 302
    assert _user(enrolled_admin.id).totp_secret == secret
