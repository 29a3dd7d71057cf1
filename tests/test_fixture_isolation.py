"""The shared fixtures keep tests apart: the session's one app comes back to each test as built, and
every test starts on empty tables with ids from 1. The two tests of a pair run in file order: the
first leaves its mess, the second checks that none of it reached it."""
from config import TestConfig
from webapp.accounts.models import Account
from webapp.extensions import db

LEFT_BEHIND = {}


def test_a_test_that_changes_the_app_and_the_database(app, smtp_server, make_account):
    app.config.update(PROVIDER_NAME="Leaky Hosting", CLOCK=lambda: None, LOGIN_MAX_FAILURES_PER_EMAIL=1)
    smtp_server.configure(app)  # replaces the app's Flask-Mail state
    make_account("Left Behind Ltd")
    LEFT_BEHIND.update(app=app, mail=app.extensions["mail"], port=smtp_server.port)
    assert app.extensions["mail"].port == smtp_server.port


def test_the_next_test_gets_the_app_as_built_and_empty_tables(app, client, make_account):
    assert LEFT_BEHIND, "runs after the test above"
    assert app is LEFT_BEHIND["app"]  # the same app, so what follows is what the fixture put back
    assert app.config["PROVIDER_NAME"] == TestConfig.PROVIDER_NAME
    assert "CLOCK" not in app.config
    assert app.config["LOGIN_MAX_FAILURES_PER_EMAIL"] == TestConfig.LOGIN_MAX_FAILURES_PER_EMAIL
    assert app.extensions["mail"] is not LEFT_BEHIND["mail"]
    assert app.extensions["mail"].port == TestConfig.MAIL_PORT
    assert "Example Hosting" in client.get("/login").get_data(as_text=True)
    with db.database.connection_context():
        assert Account.select().count() == 0
    assert make_account("First Ltd").id == 1  # ids start over, as after TRUNCATE ... RESTART IDENTITY
