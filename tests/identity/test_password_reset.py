"""Forgot password, Set password from the emailed link, and Change password; emails go to a real
SMTP server (aiosmtpd), expiry is tested with an injected clock (the CLOCK setting), never a sleep."""
import re
import threading
import time
from datetime import timedelta

import pytest
from conftest import PASSWORD

from webapp.accounts import invitations
from webapp.accounts.models import User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.identity import sessions
from webapp.identity.models import AccessToken, LoginSession

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"http://portal\.test/password/set/([A-Za-z0-9_-]+)")


@pytest.fixture
def mail_app(app, smtp_server):
    smtp_server.configure(app)
    return app


def wait_for_mail(smtp_server, address, count=1):
    """The reset email is sent after the answer, from a thread: wait for it (at most 5 s)."""
    deadline = time.monotonic() + 5
    while len(smtp_server.to(address)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return smtp_server.to(address)


def finish_reset_emails():
    """Wait for every reset email the portal is sending from its thread to be sent (or to fail)."""
    for thread in threading.enumerate():
        if thread.name == "reset-email":
            thread.join(10)


def ask_reset(client, email, **extra):
    return client.post("/password/forgot", data={"email": email}, **extra)


def reset_link(client, smtp_server, email, count=1):
    assert ask_reset(client, email).status_code == 200
    messages = wait_for_mail(smtp_server, email, count)
    assert len(messages) == count
    text = messages[-1].get_body(("plain",)).get_content()
    return LINK.search(text).group(0).removeprefix("http://portal.test")


def set_password(client, link, password=NEW_PASSWORD, confirm=None):
    """Open the link (its token goes into the session, the browser on to /password/set), then post the form."""
    opened = client.get(link)
    if opened.status_code != 302:
        return opened
    assert opened.headers["Location"] == "/password/set"
    return client.post("/password/set", data={"new_password": password, "confirm_password": confirm or password})


def test_the_login_page_links_to_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "Forgot password?" in page
    form = client.get("/password/forgot").get_data(as_text=True)
    assert "Send reset link" in form and 'name="email"' in form


def test_reset_link_sets_the_password_ends_other_sessions_and_signs_in(mail_app, client, user, login, smtp_server):
    other = mail_app.test_client()
    login(other, user.email)
    assert other.get("/licenses").status_code == 200

    link = reset_link(client, smtp_server, user.email)
    [message] = smtp_server.to(user.email)
    assert message["Subject"] == "Set a new password for the Onboarding Portal"
    assert "1 hour" in message.get_body(("plain",)).get_content()
    assert link in message.get_body(("html",)).get_content()
    page = client.get(link, follow_redirects=True)
    assert page.status_code == 200
    assert "New password" in page.get_data(as_text=True) and "Confirm new password" in page.get_data(as_text=True)

    response = set_password(client, link)
    assert response.status_code == 302 and response.headers["Location"] == "/licenses"
    assert client.get("/licenses").status_code == 200
    # The other browser's session ended; the old password no longer works, the new one does.
    assert other.get("/licenses").status_code == 302
    assert login(mail_app.test_client(), user.email).status_code == 401
    assert login(mail_app.test_client(), user.email, NEW_PASSWORD).status_code == 302
    with db.database.connection_context():
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 2


def test_a_used_link_is_refused_with_what_to_do(mail_app, client, user, smtp_server):
    link = reset_link(client, smtp_server, user.email)
    assert set_password(client, link).status_code == 302
    again = mail_app.test_client()
    for response in (again.get(link), set_password(again, link, "yet another passphrase")):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "already used" in body and 'href="/password/forgot"' in body
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(NEW_PASSWORD)


def test_a_tampered_link_is_refused(mail_app, client, user, smtp_server):
    link = reset_link(client, smtp_server, user.email)
    token = link.rsplit("/", 1)[1]
    tampered = link[:-len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    for bad in (tampered, "/password/set/short", "/password/set/" + "x" * 400, "/password/set/%00%0a"):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not valid" in response.get_data(as_text=True)
        assert set_password(client, bad).status_code == 404
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(PASSWORD)


def test_a_link_expires_after_an_hour_by_the_injected_clock(mail_app, client, user, smtp_server):
    issued = utcnow()
    mail_app.config["CLOCK"] = lambda: issued
    link = reset_link(client, smtp_server, user.email)
    mail_app.config["CLOCK"] = lambda: issued + timedelta(minutes=59, seconds=59)
    assert client.get(link, follow_redirects=True).status_code == 200
    mail_app.config["CLOCK"] = lambda: issued + timedelta(hours=1)
    response = client.get(link)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert set_password(client, link).status_code == 410
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(PASSWORD)


def test_the_lifetime_is_configurable(mail_app, client, user, smtp_server):
    mail_app.config["PASSWORD_RESET_VALID_FOR"] = timedelta(minutes=15)
    issued = utcnow()
    mail_app.config["CLOCK"] = lambda: issued
    link = reset_link(client, smtp_server, user.email)
    assert "15 minutes" in smtp_server.to(user.email)[0].get_body(("plain",)).get_content()
    mail_app.config["CLOCK"] = lambda: issued + timedelta(minutes=15)
    assert client.get(link).status_code == 410


def test_a_newer_link_replaces_the_earlier_one(mail_app, client, user, smtp_server):
    first = reset_link(client, smtp_server, user.email)
    second = reset_link(client, smtp_server, user.email, count=2)
    assert first != second
    assert client.get(first).status_code == 410
    assert set_password(client, second).status_code == 302


# -- the token leaves the URL at once (hostile audit, round three) ----------------------------------


def test_opening_a_link_keeps_the_token_in_the_session_and_moves_to_a_url_without_it(mail_app, client, user,
                                                                                   smtp_server):
    link = reset_link(client, smtp_server, user.email)
    token = link.rsplit("/", 1)[1]

    opened = client.get(link)

    assert opened.status_code == 302 and opened.headers["Location"] == "/password/set"
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/password/set")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    body = page.get_data(as_text=True)
    assert token not in body  # no form action, link or asset URL of the page carries it
    assert 'action="/password/set"' in body and 'hx-post="/password/set"' in body
    invalid = client.post("/password/set", data={"new_password": "short", "confirm_password": "short"})
    assert invalid.status_code == 422 and invalid.headers["Referrer-Policy"] == "no-referrer"
    assert token not in invalid.get_data(as_text=True)
    done = client.post("/password/set", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/licenses"
    # The session forgets the token once it is used: the form is gone from this browser too.
    assert client.get("/password/set").status_code == 404


def test_the_form_without_an_opened_link_is_refused(mail_app, client, user, smtp_server):
    link = reset_link(client, smtp_server, user.email)
    stranger = mail_app.test_client()  # never opened the link: no token in its session
    for response in (stranger.get("/password/set"),
                     stranger.post("/password/set", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})):
        assert response.status_code == 404 and "This link is not valid" in response.get_data(as_text=True)
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert set_password(client, link).status_code == 302  # the link itself still works


def test_refused_links_send_no_referrer_either(mail_app, client):
    refused = client.get("/password/set/" + "A" * 43)
    assert refused.status_code == 404 and refused.headers["Referrer-Policy"] == "no-referrer"


# -- every password change, by any path, ends every unused link (hostile audit, round three) -------


def _invitation_link(app, user):
    """An invitation link for `user`, as staff inviting them again would make it."""
    with app.app_context(), db.database.connection_context():
        _, _, token = invitations.invite_user(user.account_id, user.email, user.name, True, timedelta(days=7),
                                              utcnow())
    return f"/password/set/{token}"


def _refused(app, link):
    """The link, opened in a fresh browser, is refused and sets nothing."""
    browser = app.test_client()
    return browser.get(link).status_code == 410 and set_password(browser, link, "an attacker's passphrase").status_code == 410


def test_change_password_ends_a_reset_link_sent_before(mail_app, client, user, login, smtp_server):
    link = reset_link(client, smtp_server, user.email)
    signed_in = mail_app.test_client()
    login(signed_in, user.email)
    assert change(signed_in).status_code == 302

    assert _refused(mail_app, link)
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(NEW_PASSWORD)


def test_flask_set_password_ends_reset_and_invitation_links_sent_before(mail_app, client, user, runner, smtp_server):
    invitation = _invitation_link(mail_app, user)
    reset = reset_link(client, smtp_server, user.email)
    assert runner.invoke(args=["set-password", user.email, "--password", NEW_PASSWORD]).exit_code == 0

    assert _refused(mail_app, reset) and _refused(mail_app, invitation)
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(NEW_PASSWORD)


def test_accepting_an_invitation_ends_a_reset_link(mail_app, user, smtp_server):
    reset = reset_link(mail_app.test_client(), smtp_server, user.email)
    # The invitation is newer: it already ended the reset link; using it ends any link left.
    invitation = _invitation_link(mail_app, user)
    assert _refused(mail_app, reset)
    assert set_password(mail_app.test_client(), invitation).status_code == 302
    assert _refused(mail_app, invitation)


def test_a_newer_reset_link_ends_an_invitation_link(mail_app, client, user, smtp_server):
    invitation = _invitation_link(mail_app, user)
    reset = reset_link(client, smtp_server, user.email)

    assert _refused(mail_app, invitation)
    assert set_password(mail_app.test_client(), reset).status_code == 302


def test_a_newer_invitation_ends_a_reset_link(mail_app, client, user, smtp_server):
    reset = reset_link(client, smtp_server, user.email)
    invitation = _invitation_link(mail_app, user)

    assert _refused(mail_app, reset)
    assert set_password(mail_app.test_client(), invitation).status_code == 302


def test_every_path_that_changes_a_password_ends_the_links(app, user):
    """The one function every path calls (Set password, Change password, set-password, the demo) ends them."""
    with app.app_context(), db.database.connection_context():
        now = utcnow()
        for purpose in (AccessToken.RESET, AccessToken.INVITE):
            AccessToken.create(token_hash=purpose * 8, purpose=purpose, user=user.id, created_at=now,
                               expires_at=now + timedelta(hours=1))
        sessions.change_password(User.get_by_id(user.id), NEW_PASSWORD)
        assert AccessToken.select().where((AccessToken.user == user.id) & AccessToken.used_at.is_null()).count() == 0


def test_the_new_password_must_meet_the_rules_and_match(mail_app, client, user, smtp_server):
    link = reset_link(client, smtp_server, user.email)
    short = set_password(client, link, "too short")
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    common = set_password(client, link, "qwerty123456")
    assert common.status_code == 422 and "often" in common.get_data(as_text=True)
    mismatch = set_password(client, link, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert mismatch.status_code == 422 and "not the same" in mismatch.get_data(as_text=True)
    # A refused form does not use the link up.
    assert set_password(client, link).status_code == 302


def test_the_answer_is_the_same_whether_or_not_the_address_exists(mail_app, user, smtp_server):
    def answer(email):
        response = ask_reset(mail_app.test_client(), email)
        body = response.get_data(as_text=True).replace(email, "EMAIL")
        # Each browser has its own CSRF token; everything else must be the same.
        return response.status_code, re.sub(r'name="csrf-token" content="[^"]+"', "", body)

    assert answer(user.email) == answer("nobody@northwind.example")
    wait_for_mail(smtp_server, user.email)
    assert smtp_server.to("nobody@northwind.example") == []
    assert len(smtp_server.to(user.email)) == 1


def test_the_answer_costs_the_same_work_whether_or_not_the_address_exists(mail_app, user, smtp_server, monkeypatch):
    """Counted, not timed: the tokens made, the digests taken, the emails rendered and the SQL statements
    run (by kind) are the same for a known and an unknown email; only the sending differs, and it
    happens after the answer, in a thread."""
    from conftest import count_queries

    from webapp.auth import views as auth_views
    from webapp.core import mail as mail_module
    from webapp.identity import links

    mail_app.config.update(RESET_MAX_PER_EMAIL=1000, RESET_MAX_PER_ADDRESS=1000)
    work = []

    def counted(name, real):
        def call(*args, **kwargs):
            work.append(name)
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(auth_views, "new_token", counted("token", auth_views.new_token))
    monkeypatch.setattr(links, "digest", counted("digest", links.digest))
    monkeypatch.setattr(mail_module, "build_email", counted("email rendered", mail_module.build_email))

    def cost(email):
        client = mail_app.test_client()
        client.get("/password/forgot")  # the page first, as a person does; not counted
        work.clear()
        with count_queries() as statements:
            assert ask_reset(client, email).status_code == 200
        finish_reset_emails()
        kinds = [re.match(r"\(?['\"]?\s*(\w+)", sql).group(1).upper() for sql in statements]
        return sorted(work), [kind if kind == "SELECT" else "WRITE" for kind in kinds]

    cost("warm@northwind.example")
    known, unknown = cost(user.email), cost("nobody@northwind.example")
    assert known == unknown
    assert known[0] == ["digest", "email rendered", "token"]
    assert smtp_server.to("nobody@northwind.example") == [] and len(wait_for_mail(smtp_server, user.email)) == 1


def test_reset_requests_are_limited_per_email(mail_app, user, smtp_server):
    client = mail_app.test_client()
    statuses = [ask_reset(client, user.email).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = ask_reset(client, user.email)
    assert "try again in 60 minutes" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 3500
    # An unknown address gets the very same limit, so the 429 tells nothing either.
    assert [ask_reset(client, "nobody@northwind.example").status_code for _ in range(4)] == [200, 200, 200, 429]
    # Login is not paused by it: the counters are the reset's own.
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302


def test_reset_requests_are_limited_per_client_address(mail_app, smtp_server):
    mail_app.config["RESET_MAX_PER_ADDRESS"] = 4
    client = mail_app.test_client()
    statuses = [ask_reset(client, f"someone{i}@northwind.example").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    elsewhere = ask_reset(client, "someone9@northwind.example", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 200


def test_hostile_reset_input_never_errors(mail_app, smtp_server):
    client = mail_app.test_client()
    for email in ["", "a" * 300, "pat\x00@northwind.example", "pat@northwind.example\r\nBcc: x@y.example", "\u202e"]:
        assert ask_reset(client, email).status_code in {200, 422}
    assert client.post("/password/forgot", data={"email": ["a@b.example", "c@d.example"]}).status_code in {200, 422}


def test_a_deactivated_user_gets_no_reset_email(mail_app, client, user, smtp_server):
    with db.database.connection_context():
        User.update(deactivated_at=utcnow()).where(User.id == user.id).execute()
    assert ask_reset(client, user.email).status_code == 200
    finish_reset_emails()  # nothing is expected to arrive; a wrong send would have arrived by now
    assert smtp_server.to(user.email) == []
    with db.database.connection_context():
        assert AccessToken.select().count() == 0


def test_two_posts_of_one_link_set_the_password_once(mail_app, user, smtp_server):
    link = reset_link(mail_app.test_client(), smtp_server, user.email)
    first, second = mail_app.test_client(), mail_app.test_client()
    assert first.get(link, follow_redirects=True).status_code == 200
    assert second.get(link, follow_redirects=True).status_code == 200
    assert set_password(first, link).status_code == 302
    assert set_password(second, link, "the second passphrase").status_code == 410
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(NEW_PASSWORD)


# --- Change password -----------------------------------------------------------------------


def change(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None, **extra):
    return client.post("/password/change", data={
        "current_password": current, "new_password": new, "confirm_password": confirm or new,
    }, **extra)


def test_change_password_keeps_this_session_and_ends_the_others(app, user, login):
    this, other = app.test_client(), app.test_client()
    login(this, user.email)
    login(other, user.email)
    form = this.get("/password/change").get_data(as_text=True)
    for label in ("Current password", "New password", "Confirm new password"):
        assert label in form
    response = change(this)
    assert response.status_code == 302
    assert this.get("/licenses").status_code == 200
    assert other.get("/licenses").status_code == 302
    assert login(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


def test_the_old_session_cookie_is_refused_after_a_change(app, user, login):
    client = app.test_client()
    login(client, user.email)
    old_cookie = client.get_cookie("session").value
    assert change(client).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.get("/licenses").status_code == 302


def test_change_password_for_staff(app, admin, login):
    client = app.test_client()
    login(client, admin.email)
    assert 'href="/password/change"' in client.get("/admin/").get_data(as_text=True)
    response = change(client)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_change_password_needs_the_current_one_and_the_rules(app, user, login):
    client = app.test_client()
    login(client, user.email)
    wrong = change(client, current="not my password at all")
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)
    short = change(client, new="short")
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    fragment = change(client, new="short", headers={"HX-Request": "true"})
    assert fragment.status_code == 422 and "<html" not in fragment.get_data(as_text=True)
    with db.database.connection_context():
        assert User.get_by_id(user.id).check_password(PASSWORD)


def test_wrong_current_passwords_are_throttled_like_logins(app, user, login):
    client = app.test_client()
    login(client, user.email)
    statuses = [change(client, current=f"wrong password {i}").status_code for i in range(6)]
    assert statuses == [422] * 5 + [429]
    assert change(client).status_code == 429


def test_change_password_needs_a_signed_in_user(client):
    assert client.get("/password/change").status_code == 302
    assert change(client).status_code == 302


def test_only_the_tokens_hash_is_stored(mail_app, client, user, smtp_server):
    import hashlib

    token = reset_link(client, smtp_server, user.email).rsplit("/", 1)[1]
    with db.database.connection_context():
        row = AccessToken.get(AccessToken.user == user.id)
        stored = [str(value) for value in AccessToken.select().tuples().get()]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in value for value in stored)


def test_purge_sessions_deletes_links_spent_over_a_day_ago(app, user, runner):
    from webapp.identity import links as tokens

    now = utcnow()
    with db.database.connection_context():
        tokens.issue(user.id, AccessToken.RESET, timedelta(hours=1), now - timedelta(days=2))  # expired long ago
        tokens.issue(user.id, AccessToken.INVITE, timedelta(days=7), now)  # still good
    result = runner.invoke(args=["purge-sessions"])
    assert result.exit_code == 0, result.output
    assert "purged 1 used or expired password link" in result.output
    with db.database.connection_context():
        assert [row.purpose for row in AccessToken.select()] == [AccessToken.INVITE]
