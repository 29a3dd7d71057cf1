"""Server-side sessions: the cookie carries only a random id, the database a hash of it;
logout, a password change, a suspension and a lost authorization end sessions; idle timeout and
absolute lifetime; no remember-me bypass; one lookup per request."""
import hashlib
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, count_queries
from flask_login.utils import encode_cookie
from helpers import insert_license

from config import TestConfig
from webapp import create_app
from webapp.accounts.models import User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.identity import sessions
from webapp.identity.models import LoginSession
from webapp.licenses.models import LicenseVersion


def cookie_of(client):
    return client.get_cookie("session").value


def session_data(app, cookie):
    """What the signed session cookie holds, as the server reads it."""
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def forged_cookie(app, data):
    """A session cookie signed with the app's key, as someone holding the key (or an old release) would make."""
    return app.session_interface.get_signing_serializer(app).dumps(data)


def sessions_of(user):
    with db.database.connection_context():
        return list(LoginSession.select().where(LoginSession.user == user.id))


def sent_to_login(response):
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def test_sign_in_records_a_session_and_the_cookie_carries_only_its_random_id(app, client, user, login):
    assert login(client, user.email).status_code == 302

    (row,) = sessions_of(user)
    carried = session_data(app, cookie_of(client))["_user_id"]
    assert carried != str(user.id) and len(carried) >= 40
    # The database keeps a hash of the id, never the id itself.
    assert row.id == hashlib.sha256(carried.encode()).hexdigest() and row.id != carried
    assert row.ip_address == "127.0.0.1"
    assert client.get("/licenses").status_code == 200


def test_each_sign_in_is_its_own_session(app, user, login):
    first, second = app.test_client(), app.test_client()
    login(first, user.email)
    login(second, user.email)
    assert len(sessions_of(user)) == 2
    assert session_data(app, cookie_of(first))["_user_id"] != session_data(app, cookie_of(second))["_user_id"]

    first.post("/logout")
    assert len(sessions_of(user)) == 1
    assert sent_to_login(first.get("/licenses"))
    assert second.get("/licenses").status_code == 200


def test_a_cookie_replayed_after_logout_is_refused(app, logged_in, user, account, today):
    license = insert_license(account, "Office 365 E3", today + timedelta(days=200))
    with db.database.connection_context():
        proof_id = LicenseVersion.get_by_id(license.current_id).proof_id
    assert logged_in.get(f"/proofs/{proof_id}").status_code == 200
    stolen = cookie_of(logged_in)

    assert logged_in.post("/logout").status_code == 302
    assert sessions_of(user) == []

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert sent_to_login(replay.get("/licenses"))
    assert sent_to_login(replay.get(f"/proofs/{proof_id}"))
    assert replay.get("/licenses", headers={"HX-Request": "true"}).status_code == 401


def test_a_password_change_ends_every_session_of_that_user_only(app, user, make_user, account, login):
    colleague = make_user("sam@northwind.example", account=account)
    mine, mine_elsewhere, theirs = app.test_client(), app.test_client(), app.test_client()
    login(mine, user.email)
    login(mine_elsewhere, user.email)
    login(theirs, colleague.email)

    with db.database.connection_context():
        sessions.change_password(User.get_by_id(user.id), "a whole new passphrase")

    assert sent_to_login(mine.get("/licenses"))
    assert sent_to_login(mine_elsewhere.get("/licenses"))
    assert theirs.get("/licenses").status_code == 200
    assert login(mine, user.email, "a whole new passphrase").status_code == 302
    assert mine.get("/licenses").status_code == 200


def test_saving_other_fields_keeps_the_sessions(app, logged_in, user):
    with db.database.connection_context():
        renamed = User.get_by_id(user.id)
        renamed.name = "Pat Q. Doe"
        renamed.save()
    assert logged_in.get("/licenses").status_code == 200


def test_flask_set_password_ends_the_users_sessions(app, logged_in, user, runner, login):
    result = runner.invoke(args=["set-password", user.email.upper(), "--password", "n3w-Passphrase-long"])
    assert result.exit_code == 0, result.output
    assert "sessions were ended" in result.output
    assert sent_to_login(logged_in.get("/licenses"))
    assert login(logged_in, user.email).status_code == 401
    assert login(logged_in, user.email, "n3w-Passphrase-long").status_code == 302


def test_seed_demo_giving_new_passwords_ends_the_demo_users_sessions(app, runner, login):
    from webapp.cli.demo import DEMO_USER

    first = runner.invoke(args=["seed-demo"])
    password = re.search(rf"{re.escape(DEMO_USER)}\s+password: (\S+)", first.output).group(1)
    demo = app.test_client()
    assert login(demo, DEMO_USER, password).status_code == 302
    assert demo.get("/licenses").status_code == 200

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert sent_to_login(demo.get("/licenses"))


def test_flask_set_password_for_an_unknown_email_says_so(runner, app):
    result = runner.invoke(args=["set-password", "nobody@northwind.example", "--password", "x"])
    assert result.exit_code == 1 and "No user with the email nobody@northwind.example" in result.output


def _admin_client(app, admin, login):
    staff = app.test_client()
    login(staff, admin.email)
    return staff


def test_suspending_an_account_ends_its_users_sessions_and_no_others(app, user, make_user, make_account, admin,
                                                                     account, login):
    colleague = make_user("sam@northwind.example", account=account)
    outsider = make_user("eve@fabrikam.example", account=make_account("Fabrikam"))
    clients = {u.email: app.test_client() for u in (user, colleague, outsider)}
    for email, client in clients.items():
        login(client, email)
    staff = _admin_client(app, admin, login)

    staff.post(f"/admin/accounts/{account.id}/status", data={"status": "suspended"})

    assert sessions_of(user) == [] and sessions_of(colleague) == []
    assert sent_to_login(clients[user.email].get("/licenses"))
    assert sent_to_login(clients[colleague.email].get("/licenses"))
    assert clients[outsider.email].get("/licenses").status_code == 200
    assert staff.get("/admin/").status_code == 200  # the admin's own session is untouched


def test_a_repeated_suspend_does_not_end_sessions_made_since(app, user, admin, account, login):
    staff = _admin_client(app, admin, login)
    staff.post(f"/admin/accounts/{account.id}/status", data={"status": "suspended"})
    customer = app.test_client()
    login(customer, user.email)  # signs in and sees why the portal is closed
    staff.post(f"/admin/accounts/{account.id}/status", data={"status": "suspended"})  # a stale page's repeat
    assert len(sessions_of(user)) == 1


def test_removing_authorization_ends_that_users_sessions_only(app, user, make_user, admin, account, login):
    colleague = make_user("sam@northwind.example", account=account)
    mine, theirs = app.test_client(), app.test_client()
    login(mine, user.email)
    login(theirs, colleague.email)
    staff = _admin_client(app, admin, login)

    staff.post(f"/admin/users/{user.id}/authorization", data={"authorization": "unauthorized"})

    assert sent_to_login(mine.get("/licenses"))
    assert theirs.get("/licenses").status_code == 200
    # Authorizing again does not end the session made in between.
    login(mine, user.email)
    staff.post(f"/admin/users/{user.id}/authorization", data={"authorization": "authorized"})
    assert mine.get("/licenses").status_code == 200


def _age_session(user, **ago):
    with db.database.connection_context():
        LoginSession.update(**{field: utcnow() - delta for field, delta in ago.items()}).where(
            LoginSession.user == user.id
        ).execute()


def test_a_session_idle_past_the_timeout_is_refused(logged_in, user):
    _age_session(user, last_seen_at=timedelta(hours=8, seconds=5))
    assert sent_to_login(logged_in.get("/licenses"))


def test_a_session_used_within_the_timeout_lives_on_and_is_touched(logged_in, user):
    _age_session(user, last_seen_at=timedelta(hours=7, minutes=59))
    assert logged_in.get("/licenses").status_code == 200
    (row,) = sessions_of(user)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_a_session_past_its_lifetime_is_refused_even_in_use(logged_in, user):
    _age_session(user, created_at=timedelta(days=7, seconds=5), last_seen_at=timedelta(seconds=1))
    assert sent_to_login(logged_in.get("/licenses"))


def test_a_session_within_its_lifetime_lives(logged_in, user):
    _age_session(user, created_at=timedelta(days=6, hours=23), last_seen_at=timedelta(seconds=1))
    assert logged_in.get("/licenses").status_code == 200


def test_timeout_and_lifetime_are_configurable(database_url, user, login):
    app = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False,
                     SESSION_IDLE_TIMEOUT_HOURS=0.5, SESSION_LIFETIME_DAYS=1)
    client = app.test_client()
    login(client, user.email)
    _age_session(user, last_seen_at=timedelta(minutes=29))
    assert client.get("/licenses").status_code == 200
    _age_session(user, last_seen_at=timedelta(minutes=31))
    assert sent_to_login(client.get("/licenses"))

    login(client, user.email)
    _age_session(user, created_at=timedelta(hours=25), last_seen_at=timedelta(seconds=1))
    assert sent_to_login(client.get("/licenses"))


@pytest.mark.parametrize("setting", [{"SESSION_IDLE_TIMEOUT_HOURS": 0}, {"SESSION_LIFETIME_DAYS": -1}])
def test_a_session_limit_of_zero_or_less_is_refused_at_start(database_url, setting):
    with pytest.raises(RuntimeError, match="must be more than 0"):
        create_app(TestConfig, DATABASE_URL=database_url, **setting)


def test_a_cookie_of_the_release_before_carrying_a_user_id_is_refused(app, client, user):
    client.set_cookie("session", forged_cookie(app, {"_user_id": str(user.id), "_fresh": True}))
    assert sent_to_login(client.get("/licenses"))


@pytest.mark.parametrize("carried", [7, ["1"], {"a": 1}, "", "x" * 5000, "\x00", None], ids=repr)
def test_a_malformed_session_id_is_refused_without_an_error(app, client, user, carried):
    client.set_cookie("session", forged_cookie(app, {"_user_id": carried, "_fresh": True}))
    assert sent_to_login(client.get("/licenses"))


def test_the_remember_cookie_is_never_set(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]


def test_a_remember_cookie_cannot_bypass_the_session_record(app, user, login):
    """Flask-Login would load a user from a signed remember cookie; it must go through a live session."""
    with app.test_request_context():
        by_user_id = encode_cookie(str(user.id))
    client = app.test_client()
    client.set_cookie("remember_token", by_user_id)
    assert sent_to_login(client.get("/licenses"))

    # Nor does a remember cookie carrying the id of a session that has ended.
    login(client, user.email)
    session_id = session_data(app, cookie_of(client))["_user_id"]
    client.post("/logout")
    with app.test_request_context():
        ended = encode_cookie(session_id)
    replay = app.test_client()
    replay.set_cookie("remember_token", ended)
    assert sent_to_login(replay.get("/licenses"))


def test_a_request_costs_one_lookup_for_session_user_and_account(logged_in):
    logged_in.get("/licenses")  # touched just now: the next requests only read
    with count_queries() as queries:
        assert logged_in.get("/licenses").status_code == 200
    session_queries = [q for q in queries if '"loginsession"' in q]
    assert len(session_queries) == 1, session_queries
    (lookup,) = session_queries
    assert lookup.startswith("('SELECT") and 'JOIN "user"' in lookup and 'JOIN "account"' in lookup
    # The user and account come with it, not from queries of their own. The one query FROM "user"
    # is the page's Users panel (whom to ask): the account's authorized users, by account, not this user by id.
    user_queries = [q for q in queries if q.startswith('(\'SELECT') and 'FROM "user"' in q]
    assert len(user_queries) == 1, user_queries
    (panel,) = user_queries
    assert panel.startswith('(\'SELECT "t1"."id", "t1"."name", "t1"."email" FROM "user"')
    assert '"t1"."account_id" = ' in panel and '"t1"."id" = ' not in panel


def test_the_session_lookup_uses_the_primary_key_index(app, logged_in, user):
    """The lookup is by the hashed id, the table's primary key: one index probe, whatever the table's size."""
    from webapp.identity.models import LoginSession as model

    assert model._meta.primary_key.name == "id"
    with db.database.connection_context():
        for n in range(200):
            LoginSession.create(id=hashlib.sha256(str(n).encode()).hexdigest(), user=user.id)
    with count_queries() as queries:
        assert logged_in.get("/licenses").status_code == 200
    (lookup,) = [q for q in queries if '"loginsession"' in q]
    assert '"t1"."id" = ' in lookup


def test_flask_purge_sessions_deletes_only_expired_sessions(app, runner, user, make_user, account, login):
    idle, old, live = (make_user(f"{n}@northwind.example", account=account) for n in ("idle", "old", "live"))
    for person in (idle, old, live):
        login(app.test_client(), person.email)
    _age_session(idle, last_seen_at=timedelta(hours=8, seconds=1))
    _age_session(old, created_at=timedelta(days=7, seconds=1))

    result = runner.invoke(args=["purge-sessions"])

    assert result.exit_code == 0, result.output
    assert "purged 2 expired sessions" in result.output
    assert sessions_of(idle) == [] and sessions_of(old) == []
    assert len(sessions_of(live)) == 1


def test_a_nul_in_the_user_agent_is_not_stored_and_no_error(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           headers={"User-Agent": "Mozilla\x00/5.0 \x1b[31m" + "x" * 500})
    assert response.status_code == 302
    (row,) = sessions_of(user)
    assert row.user_agent.startswith("Mozilla/5.0 [31m") and len(row.user_agent) == 200
