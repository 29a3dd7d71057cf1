"""The shared fixtures keep tests apart: the session's one app comes back to each test as built, and
every test starts on empty tables with ids from 1.

Each test stands alone, whatever runs before it, on whichever worker: the first leaves its mess through
the `app` fixture and then sets up the next test's app the way the fixture does (conftest.app_for_a_test);
the second makes the mess of a test before it the same way and only then asks the `app` fixture for its
own app.
"""
from conftest import app_for_a_test

from config import TestConfig
from webapp.accounts.models import Account
from webapp.extensions import cache, db


def make_a_mess(app, smtp_server):
    """What a test may do to the app it was given: change settings, point Flask-Mail elsewhere, add rows,
    keep rendered fragments."""
    app.config.update(PROVIDER_NAME="Leaky Hosting", CLOCK=lambda: None, LOGIN_MAX_FAILURES_PER_EMAIL=1)
    with app.app_context():
        cache.set("a fragment", "<td>Left behind</td>")
    smtp_server.configure(app)  # replaces the app's Flask-Mail state
    with db.database.connection_context():
        Account.create(name="Left Behind Ltd")
    assert app.extensions["mail"].port == smtp_server.port
    return app.extensions["mail"]


def assert_as_built_on_empty_tables(app, left_behind_mail, client, make_account):
    assert app.config["PROVIDER_NAME"] == TestConfig.PROVIDER_NAME
    assert "CLOCK" not in app.config
    assert app.config["LOGIN_MAX_FAILURES_PER_EMAIL"] == TestConfig.LOGIN_MAX_FAILURES_PER_EMAIL
    assert app.extensions["mail"] is not left_behind_mail
    assert app.extensions["mail"].port == TestConfig.MAIL_PORT
    assert "Example Hosting" in client.get("/login").get_data(as_text=True)
    with app.app_context():
        assert cache.get("a fragment") is None
    with db.database.connection_context():
        assert Account.select().count() == 0
    assert make_account("First Ltd").id == 1  # ids start over, as after TRUNCATE ... RESTART IDENTITY


def test_a_test_that_changes_the_app_and_the_database(app, database_url, smtp_server, make_account):
    left_behind_mail = make_a_mess(app, smtp_server)

    # The next test's setup, as the `app` fixture does it.
    with app_for_a_test(database_url) as next_app:
        assert next_app is app  # the same app, so what follows is what the setup put back
        assert_as_built_on_empty_tables(next_app, left_behind_mail, next_app.test_client(), make_account)


def test_the_next_test_gets_the_app_as_built_and_empty_tables(request, database_url, smtp_server):
    # A test before this one: set up and torn down as the `app` fixture does it, with its mess in between.
    with app_for_a_test(database_url) as earlier:
        left_behind_mail = make_a_mess(earlier, smtp_server)

    app = request.getfixturevalue("app")  # this test's app, from the fixture, set up after the mess
    assert app is earlier  # the same app, so what follows is what the fixture put back
    assert_as_built_on_empty_tables(
        app, left_behind_mail, request.getfixturevalue("client"), request.getfixturevalue("make_account")
    )
