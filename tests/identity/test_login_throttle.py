"""Login throttling: after a few failed logins per email, and separately per client
address, tries get 429 before any password hash, the same whether or not the email exists; the
counters live in the database and hold under concurrent tries."""
import hashlib
import re
import threading
from datetime import timedelta

import pytest
from conftest import PASSWORD

from config import TestConfig
from webapp import create_app
from webapp.accounts.models import User
from webapp.core import limiter
from webapp.core.clock import utcnow
from webapp.core.limiter import Counter
from webapp.extensions import db
from webapp.identity.throttle import address_key, email_key

WRONG = "not the password"
PAUSED = "Too many failed logins."
LIMITS = {"LOGIN_MAX_FAILURES_PER_EMAIL": 3, "LOGIN_MAX_FAILURES_PER_ADDRESS": 6, "LOGIN_THROTTLE_WINDOW_MINUTES": 10}


@pytest.fixture
def hashes(monkeypatch):
    """Counts every password hash computed, whatever code path asks for it: werkzeug's scrypt (production)
    and PBKDF2 (TestConfig's cheap method); a hash made with either is counted."""
    calls = []

    def counting(real):
        def count(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)

        return count

    monkeypatch.setattr(hashlib, "scrypt", counting(hashlib.scrypt))
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting(hashlib.pbkdf2_hmac))
    return calls


@pytest.fixture
def app(database_url, app):
    """The test app with small limits, on the database the `app` fixture emptied."""
    return create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, **LIMITS)


def from_address(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def try_login(client, email, password=WRONG, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def text_of(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_after_the_email_limit_even_the_right_password_gets_429_and_no_hash(app, client, user, hashes):
    for _ in range(3):
        assert try_login(client, user.email).status_code == 401
    assert len(hashes) == 3

    refused = try_login(client, user.email, PASSWORD)

    assert refused.status_code == 429
    assert len(hashes) == 3, "the refusal computed a password hash"
    assert PAUSED in text_of(refused) and "try again in 10 minutes" in text_of(refused)
    assert 500 < int(refused.headers["Retry-After"]) <= 601
    assert client.get("/licenses").status_code == 302  # not signed in


def test_an_unknown_email_is_throttled_the_same_way(app, client, user, hashes):
    """The refusal does not tell whether the email has an account: same counts, same page."""
    known, unknown = from_address(app, "192.0.2.1"), from_address(app, "192.0.2.2")
    for _ in range(3):
        assert try_login(known, user.email).status_code == 401
        assert try_login(unknown, "nobody@northwind.example").status_code == 401
    assert len(hashes) == 6
    refused_known = try_login(known, user.email)
    refused_unknown = try_login(unknown, "nobody@northwind.example")
    assert refused_known.status_code == refused_unknown.status_code == 429
    assert len(hashes) == 6
    blank = lambda r, email: re.sub(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"', "",  # noqa: E731
                                    r.get_data(as_text=True).replace(email, "EMAIL"))
    assert blank(refused_known, user.email) == blank(refused_unknown, "nobody@northwind.example")


def test_the_email_is_counted_as_login_normalises_it(app, client, user):
    for spelling in (user.email, f"  {user.email.upper()} ", user.email.title()):
        assert try_login(client, spelling).status_code == 401
    assert try_login(client, user.email, PASSWORD).status_code == 429


def test_one_email_paused_does_not_pause_another(app, client, user, make_user, account):
    other = make_user("sam@northwind.example", account=account)
    for _ in range(3):
        try_login(client, user.email)
    assert try_login(client, user.email, PASSWORD).status_code == 429
    assert try_login(client, other.email, PASSWORD).status_code == 302


def test_the_address_limit_spans_emails_and_other_addresses_are_free(app, user, hashes):
    guesser = from_address(app, "198.51.100.7")
    for n in range(6):
        assert try_login(guesser, f"guess{n}@northwind.example").status_code == 401
    refused = try_login(guesser, user.email, PASSWORD)
    assert refused.status_code == 429 and PAUSED in text_of(refused)
    assert len(hashes) == 6
    assert try_login(from_address(app, "198.51.100.8"), user.email, PASSWORD).status_code == 302


def test_every_wrong_login_costs_one_hash_whoever_the_email_belongs_to(app, account, make_user, hashes):
    """Counted, not timed: an invited user without a password yet (stored "!"), a deactivated user, staff,
    a customer and an unknown email each cost exactly one password hash, as does the right password."""
    from webapp.accounts.invitations import invite_user

    customer = make_user("pat@northwind.example", account=account)
    staff = make_user("staff@provider.example", admin=True)
    gone = make_user("gone@northwind.example", account=account)
    with app.app_context(), db.database.connection_context():
        invite_user(account.id, "invited@northwind.example", "New Person", True, timedelta(days=7), utcnow())
        User.update(deactivated_at=utcnow()).where(User.id == gone.id).execute()
    emails = [customer.email, staff.email, gone.email, "invited@northwind.example", "nobody@northwind.example"]
    cost = {}
    for n, email in enumerate(emails):
        hashes.clear()
        assert try_login(from_address(app, f"192.0.2.{n + 1}"), email).status_code == 401
        cost[email] = len(hashes)
    assert cost == dict.fromkeys(emails, 1)
    hashes.clear()
    assert try_login(from_address(app, "192.0.2.99"), customer.email, PASSWORD).status_code == 302
    assert len(hashes) == 1


@pytest.mark.parametrize(("spellings"), [
    ("10.9.9.9", "10.9.9.9:1234", "10.9.9.9:80", " 10.9.9.9 ", "::ffff:10.9.9.9", "[::ffff:10.9.9.9]:8080"),
    ("2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443", "2001:DB8::1", "2001:db8:0:0::1%eth0",
     "[2001:db8::1%25eth0]:443"),
    ("fe80::1", "fe80::1%eth0", "fe80::1%2", "[fe80::1%eth0]:1234", "FE80::1"),
])
def test_every_spelling_of_one_forwarded_address_counts_alike(spellings):
    assert {address_key(spelling) for spelling in spellings} == {address_key(spellings[0])}
    assert len({address_key(spelling, "reset:") for spelling in spellings}) == 1


def test_what_is_no_address_shares_one_counter_and_never_a_real_clients():
    garbage = {address_key(text) for text in ("unknown", "10.9.9.999", "evil", "[zz]", "", None, "1.2.3.4:5:6")}
    assert len(garbage) == 1
    assert garbage.isdisjoint({address_key("10.9.9.9"), address_key("2001:db8::1")})


def test_an_address_written_another_way_gets_no_fresh_tries(database_url, user):
    """Through the proxy (PROXY_COUNT=1), X-Forwarded-For as an attacker writes it: ports, brackets, zones."""
    proxied = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, PROXY_COUNT=1, **LIMITS)
    client = proxied.test_client()
    spellings = ["2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:1234", "2001:db8::1%eth0", "2001:DB8::1",
                 "[2001:db8::1%eth1]:9"]
    for n, spelling in enumerate(spellings):
        answer = try_login(client, f"guess{n}@northwind.example", headers={"X-Forwarded-For": spelling})
        assert answer.status_code == 401, spelling
    refused = try_login(client, user.email, PASSWORD, headers={"X-Forwarded-For": "[2001:db8::1]:5555"})
    assert refused.status_code == 429 and PAUSED in text_of(refused)
    assert try_login(client, user.email, PASSWORD, headers={"X-Forwarded-For": "198.51.100.8:1"}).status_code == 302


def test_an_ipv6_client_is_counted_by_its_64_network():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("192.0.2.1") != address_key("192.0.2.2")
    assert address_key(None) == address_key("")
    assert email_key(" Pat@Northwind.example ") == email_key("pat@northwind.example")


def test_a_successful_login_does_not_reset_the_address_counter(app, user, make_user, account, login):
    """An attacker who owns one account cannot log into it between guesses to reset the address's count."""
    attacker = make_user("mallory@northwind.example", account=account)
    client = from_address(app, "203.0.113.5")
    for round_ in range(3):
        for n in range(2):
            assert try_login(client, f"victim{round_}{n}@northwind.example").status_code == 401
        if round_ < 2:
            assert login(client, attacker.email).status_code == 302
            client.post("/logout")
    # Six failures from the address, with two successful logins among them: the seventh try waits.
    assert try_login(client, "victim9@northwind.example").status_code == 429


def test_a_successful_login_clears_the_emails_own_counter(app, client, user, login):
    for _ in range(2):
        try_login(client, user.email)
    assert login(client, user.email).status_code == 302
    client.post("/logout")
    for _ in range(2):
        assert try_login(client, user.email).status_code == 401
    assert login(client, user.email).status_code == 302


@pytest.mark.parametrize("wait, words, header", [
    (timedelta(seconds=-5), "try again in 1 minute", "1"),  # the window ended while the answer was made
    (timedelta(0), "try again in 1 minute", "1"),
    (timedelta(seconds=0.4), "try again in 1 minute", "1"),
    (timedelta(seconds=59), "try again in 1 minute", "60"),
    (timedelta(seconds=60), "try again in 1 minute", "61"),
    (timedelta(seconds=60.5), "try again in 2 minutes", "61"),
    (timedelta(minutes=14, seconds=59), "try again in 15 minutes", "900"),
])
def test_every_refusal_says_the_wait_alike(wait, words, header):
    """Sign-in, code, reset and API refusals: whole minutes rounded up in words, seconds past the wait in Retry-After."""
    assert limiter.try_again_in(wait) == words
    assert limiter.retry_after(wait) == header


def test_the_pause_ends_with_the_window_and_counting_starts_over(app, client, user):
    for _ in range(3):
        try_login(client, user.email)
    assert try_login(client, user.email, PASSWORD).status_code == 429
    with db.database.connection_context():
        Counter.update(window_start=utcnow() - timedelta(minutes=10, seconds=1)).execute()
    assert try_login(client, user.email).status_code == 401
    with db.database.connection_context():
        assert Counter.get(Counter.key == email_key(user.email)).hits == 1
    assert try_login(client, user.email, PASSWORD).status_code == 302


def test_the_limits_are_configurable(database_url, user, hashes):
    app = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False,
                     LOGIN_MAX_FAILURES_PER_EMAIL=1, LOGIN_THROTTLE_WINDOW_MINUTES=1)
    client = app.test_client()
    assert try_login(client, user.email).status_code == 401
    refused = try_login(client, user.email, PASSWORD)
    assert refused.status_code == 429 and "try again in 1 minute." in text_of(refused)


@pytest.mark.parametrize("setting", ["LOGIN_MAX_FAILURES_PER_EMAIL", "LOGIN_MAX_FAILURES_PER_ADDRESS",
                                     "LOGIN_THROTTLE_WINDOW_MINUTES"])
def test_a_limit_of_zero_is_refused_at_start(database_url, setting):
    with pytest.raises(RuntimeError, match="must be more than 0"):
        create_app(TestConfig, DATABASE_URL=database_url, **{setting: 0})


def test_the_defaults(database_url):
    app = create_app(TestConfig, DATABASE_URL=database_url)
    assert (app.config["LOGIN_MAX_FAILURES_PER_EMAIL"], app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
            app.config["LOGIN_THROTTLE_WINDOW_MINUTES"]) == (5, 30, 15)


def test_the_htmx_form_gets_the_message_in_the_form_alone(app, client, user):
    for _ in range(3):
        try_login(client, user.email)
    refused = try_login(client, user.email, PASSWORD, headers={"HX-Request": "true"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "<html" not in body
    assert 'id="login-form"' in body and PAUSED in text_of(refused) and 'role="alert"' in body
    # The message stands in for the form (htmx swaps it in place), with the way back to it.
    assert 'name="password"' not in body and "Back to the login form" in body


def test_the_plain_form_gets_the_whole_page_with_the_message(app, client, user):
    for _ in range(3):
        try_login(client, user.email)
    refused = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": "/help"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "<html" in body and 'id="login-form"' in body
    assert PAUSED in text_of(refused) and 'name="password"' not in body
    back = re.search(r'<a href="([^"]+)">Back to the login form</a>', body).group(1)
    assert back == "/login?next=/help"  # back to the form, keeping where the user was going


def test_an_htmx_login_that_succeeds_is_redirected_by_htmx(app, client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": "/help"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/help"
    assert client.get("/licenses").status_code == 200


def test_an_htmx_login_that_fails_gets_the_form_back(app, client, user):
    response = try_login(client, user.email, headers={"HX-Request": "true"})
    assert response.status_code == 401 and "<html" not in response.get_data(as_text=True)
    assert "The email or password is not right." in text_of(response)


def test_concurrent_wrong_passwords_get_exactly_the_limit_of_hashes(app, user, hashes):
    """Sixteen tries at once for one email: the database's atomic count lets exactly three through."""
    start = threading.Barrier(16)
    statuses, errors = [], []

    def attack(n):
        client = from_address(app, f"192.0.2.{n + 10}")
        try:
            start.wait(timeout=30)
            statuses.append(try_login(client, user.email).status_code)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
        finally:
            if not db.database.is_closed():
                db.database.close()

    threads = [threading.Thread(target=attack, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(statuses) == [401] * 3 + [429] * 13
    assert len(hashes) == 3
    with db.database.connection_context():
        assert Counter.get(Counter.key == email_key(user.email)).hits >= 3


def test_flask_purge_sessions_also_purges_spent_counters(app, client, user, runner):
    try_login(client, user.email)
    try_login(from_address(app, "192.0.2.99"), "old@northwind.example")
    with db.database.connection_context():
        # Past the longest window (the reset requests' counters share the table): spent for both kinds.
        Counter.update(window_start=utcnow() - timedelta(minutes=app.config["RESET_THROTTLE_WINDOW_MINUTES"] + 1)).where(
            Counter.key.in_([email_key("old@northwind.example"), address_key("192.0.2.99")])
        ).execute()

    result = app.test_cli_runner().invoke(args=["purge-sessions"])

    assert result.exit_code == 0, result.output
    assert "purged 2 failed-login counters past their window" in result.output
    with db.database.connection_context():
        assert {row.key for row in Counter.select()} == {email_key(user.email), address_key("127.0.0.1")}


def test_successful_logins_do_not_count_against_the_address(app, user, login):
    """An office behind one address: many good logins in a window pause nobody."""
    client = from_address(app, "203.0.113.50")
    for _ in range(10):
        assert login(client, user.email).status_code == 302
        client.post("/logout")
    with db.database.connection_context():
        assert Counter.get(Counter.key == address_key("203.0.113.50")).hits == 0
    assert try_login(client, user.email).status_code == 401
