"""Staff invite users (a link to Set password, valid 7 days, by email to a real SMTP server) and
deactivate them (no sign-in, sessions end, rows stay). Expiry uses the injected CLOCK setting."""
import re
from datetime import timedelta

import pytest
from conftest import PASSWORD

from webapp.accounts.models import User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.identity.models import AccessToken, LoginSession

LINK = re.compile(r"http://portal\.test(/password/set/[A-Za-z0-9_-]+)")
NEW_PASSWORD = "my first portal passphrase"


@pytest.fixture
def staff(app, smtp_server, admin, login):
    smtp_server.configure(app)
    client = app.test_client()
    login(client, admin.email)
    return client


def invite(staff, account, email="new.person@northwind.example", name="New Person", authorized=True):
    data = {"email": email, "name": name}
    if authorized:
        data["authorized"] = "y"
    return staff.post(f"/admin/accounts/{account.id}/invitations", data=data)


def link_in(message):
    return LINK.search(message.get_body(("plain",)).get_content()).group(1)


def test_the_account_page_offers_invite_user(staff, account):
    page = staff.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert "Invite user" in page and 'name="authorized"' in page and "7 days" in page


def test_an_invitation_creates_the_user_and_its_link_sets_the_password(app, staff, account, smtp_server, login):
    response = invite(staff, account)
    assert response.status_code == 302
    assert "Invitation sent to new.person@northwind.example" in staff.get(response.headers["Location"]).get_data(as_text=True)
    with db.database.connection_context():
        user = User.get(User.email == "new.person@northwind.example")
        assert (user.account_id, user.name, user.is_authorized, user.is_admin) == (account.id, "New Person", True, False)
        assert AccessToken.get(AccessToken.user == user.id).purpose == AccessToken.INVITE
    # Nobody can sign in with the unset password.
    assert login(app.test_client(), user.email, "!").status_code == 401

    [message] = smtp_server.to("new.person@northwind.example")
    assert "Northwind Traders" in message.get_body(("plain",)).get_content()
    assert "7 days" in message.get_body(("plain",)).get_content()
    link = link_in(message)
    invitee = app.test_client()
    page = invitee.get(link, follow_redirects=True)
    assert page.status_code == 200 and "Welcome" in page.get_data(as_text=True)
    done = invitee.post("/password/set", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/licenses"
    assert invitee.get("/licenses").status_code == 200
    assert invitee.get(link).status_code == 410
    assert login(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


def test_an_invitation_expires_after_seven_days(app, staff, account, smtp_server):
    sent = utcnow()
    app.config["CLOCK"] = lambda: sent
    invite(staff, account)
    link = link_in(smtp_server.messages[0][1])
    app.config["CLOCK"] = lambda: sent + timedelta(days=7) - timedelta(seconds=1)
    assert app.test_client().get(link, follow_redirects=True).status_code == 200
    app.config["CLOCK"] = lambda: sent + timedelta(days=7)
    expired = app.test_client().get(link)
    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True) and "ask the person who invited you" in expired.get_data(as_text=True)


def test_the_lifetime_is_configurable(app, staff, account, smtp_server):
    app.config["INVITATION_VALID_FOR"] = timedelta(days=2)
    invite(staff, account)
    assert "2 days" in smtp_server.messages[0][1].get_body(("plain",)).get_content()


def test_a_new_invitation_invalidates_the_earlier_link(app, staff, account, smtp_server):
    invite(staff, account)
    response = invite(staff, account)
    assert "earlier link no longer works" in staff.get(response.headers["Location"]).get_data(as_text=True)
    first, second = (link_in(m) for _, m in smtp_server.messages)
    assert first != second
    assert app.test_client().get(first).status_code == 410
    assert app.test_client().get(second, follow_redirects=True).status_code == 200
    with db.database.connection_context():
        assert User.select().where(User.email == "new.person@northwind.example").count() == 1


def test_an_email_of_another_account_or_of_staff_is_refused(staff, account, make_account, make_user, admin, smtp_server):
    other = make_account("Other Co")
    make_user("kim@other.example", account=other)
    for email in ("kim@other.example", admin.email):
        response = invite(staff, account, email=email)
        assert response.status_code == 409
        assert "already has a login" in response.get_data(as_text=True)
    assert smtp_server.messages == []
    with db.database.connection_context():
        assert User.get(User.email == "kim@other.example").account_id == other.id


@pytest.mark.parametrize("email", ["", "not-an-email", "ü@northwind.example", "a" * 300 + "@x.example", "pat\x00@x.example"])
def test_a_bad_invitation_comes_back_with_its_message(staff, account, smtp_server, email):
    response = invite(staff, account, email=email)
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert smtp_server.messages == []
    with db.database.connection_context():
        assert User.select().where(User.account == account.id).count() == 0


def test_an_unsent_invitation_says_so_and_can_be_sent_again(app, staff, account, smtp_server):
    smtp_server.refuse["new.person@northwind.example"] = "550 5.1.1 mailbox unavailable"
    response = invite(staff, account)
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be sent" in page and "550" in page
    del smtp_server.refuse["new.person@northwind.example"]
    invite(staff, account)
    assert len(smtp_server.to("new.person@northwind.example")) == 1


def test_customers_cannot_invite(app, logged_in, account):
    response = logged_in.post(f"/admin/accounts/{account.id}/invitations", data={"email": "x@northwind.example"})
    assert response.status_code == 403


# --- deactivation ---------------------------------------------------------------------------


def test_a_deactivated_user_cannot_sign_in_and_their_sessions_end(app, staff, user, login):
    theirs = app.test_client()
    login(theirs, user.email)
    assert theirs.get("/licenses").status_code == 200
    response = staff.post(f"/admin/users/{user.id}/access", data={"access": "deactivated"})
    assert response.status_code == 302
    assert "can no longer sign in" in staff.get(response.headers["Location"]).get_data(as_text=True)
    assert theirs.get("/licenses").status_code == 302
    refused = login(app.test_client(), user.email)
    assert refused.status_code == 403 and "Your access to the portal was ended" in refused.get_data(as_text=True)
    # A wrong password still gets the usual answer: the refusal tells a guesser nothing.
    wrong = login(app.test_client(), user.email, "not the password at all")
    assert wrong.status_code == 401 and "ended" not in wrong.get_data(as_text=True)
    with db.database.connection_context():
        assert User.get_by_id(user.id).deactivated_at is not None  # the row stays
        assert LoginSession.select().where(LoginSession.user == user.id).count() == 0


def test_deactivation_ends_unused_links_and_reactivation_lets_them_back(app, staff, user, smtp_server, login):
    app.test_client().post("/password/forgot", data={"email": user.email})
    with db.database.connection_context():
        assert AccessToken.select().where(AccessToken.used_at.is_null()).count() == 1
    staff.post(f"/admin/users/{user.id}/access", data={"access": "deactivated"})
    with db.database.connection_context():
        assert AccessToken.select().where(AccessToken.used_at.is_null()).count() == 0
    again = staff.post(f"/admin/users/{user.id}/access", data={"access": "deactivated"})
    assert "already was deactivated" in staff.get(again.headers["Location"]).get_data(as_text=True)
    staff.post(f"/admin/users/{user.id}/access", data={"access": "active"})
    assert login(app.test_client(), user.email, PASSWORD).status_code == 302


def test_staff_cannot_be_deactivated_here_and_the_intent_is_required(staff, admin, user):
    assert staff.post(f"/admin/users/{admin.id}/access", data={"access": "deactivated"}).status_code == 404
    assert staff.post(f"/admin/users/{user.id}/access", data={}).status_code == 422
    assert staff.post(f"/admin/users/{user.id}/access", data={"access": "toggle"}).status_code == 422
