"""The development mailbox: with PORTAL_ENV=development every email (web and `flask` commands) is kept
and read at /dev/mailbox, in text and HTML; production has no such URL and mails over SMTP."""
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from helpers import send

from config import Config, TestConfig
from webapp import create_app
from webapp.core import mailbox
from webapp.core.mail import send_email

PRODUCTION_KEY = "k" * 64


def _reset(app, to="pat@northwind.example"):
    with app.app_context():
        send_email("password_reset", to, "Set a new password", name="Pat <Doe>", email=to,
                   link="http://portal.test/password/set/abc", valid_for="1 hour")


@pytest.fixture
def dev_app(database_url, tmp_path):
    """An app as `make run` builds it: development settings, the mailbox in a folder of the test's."""
    return create_app(Config, PORTAL_ENV="development", SECRET_KEY=PRODUCTION_KEY, DATABASE_URL=database_url,
                      DATABASE_POOL=False, MAILBOX_DIR=str(tmp_path / "mailbox"), WTF_CSRF_ENABLED=False,
                      PASSWORD_HASH_METHOD=TestConfig.PASSWORD_HASH_METHOD, TESTING=True, MAIL_SUPPRESS_SEND=False)


def test_development_keeps_mail_in_the_instance_folder_and_needs_no_smtp_server(database_url):
    app = create_app(Config, PORTAL_ENV="development", SECRET_KEY=PRODUCTION_KEY, DATABASE_URL=database_url)
    assert app.config["MAILBOX_DIR"].endswith("instance/mailbox")
    assert app.config["PROVIDER_NAME"] == "Example Hosting"
    assert app.config["SUPPORT_EMAIL"] == "support@example-hosting.test"
    assert "mailbox.index" in {rule.endpoint for rule in app.url_map.iter_rules()}


def test_an_email_sent_in_development_is_kept_and_read_in_text_and_html(dev_app):
    _reset(dev_app)
    client = dev_app.test_client()
    listing = client.get("/dev/mailbox/")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert "Set a new password" in page and "pat@northwind.example" in page
    [kept] = mailbox.messages(dev_app.config["MAILBOX_DIR"])
    text = client.get(f"/dev/mailbox/{kept.name}").get_data(as_text=True)
    assert "http://portal.test/password/set/abc" in text and "Pat &lt;Doe&gt;" in text
    html = client.get(f"/dev/mailbox/{kept.name}.html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "Pat &lt;Doe&gt;" in html.get_data(as_text=True)
    # Rendered as its own sandboxed document: no script, no requests out.
    assert html.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")


def test_a_flask_command_keeps_its_email_too(dev_app, account, make_user, office365):
    from helpers import insert_license
    from webapp.core.clock import business_today

    today = business_today("UTC")
    make_user("pat@northwind.example", account=account)
    insert_license(account, expires_on=today + timedelta(days=30))
    code, output, counts = send(dev_app.test_cli_runner(), today)
    assert counts[0] == 1, output
    [kept] = mailbox.messages(dev_app.config["MAILBOX_DIR"])
    assert "expires on" in kept.subject
    # The provider the pages name, with no PROVIDER_NAME in the environment (the Makefile sets none).
    assert "Example Hosting" in kept.text and "support@example-hosting.test" in kept.text


def test_names_that_are_not_kept_messages_are_404(dev_app):
    client = dev_app.test_client()
    for name in ("..%2F..%2Fconfig", "0000000000000000000-zzzzzzzz", "1" * 19 + "-0000000a", "x.html"):
        assert client.get(f"/dev/mailbox/{name}").status_code == 404


def test_production_has_no_mailbox(database_url, tmp_path, smtp_server):
    app = create_app(Config, PORTAL_ENV="production", SECRET_KEY=PRODUCTION_KEY, DATABASE_URL=database_url,
                     TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
                     DATABASE_POOL=False, MAILBOX_DIR=str(tmp_path / "mailbox"), MAIL_SUPPRESS_SEND=False,
                     MAIL_DEFAULT_SENDER="licenses@example-hosting.test")
    assert app.config["MAILBOX_DIR"] is None
    client = app.test_client()
    assert client.get("/dev/mailbox/").status_code == 404
    assert client.get("/dev/mailbox/0000000000000000001-0000000a").status_code == 404
    smtp_server.configure(app)
    _reset(app)
    assert smtp_server.to("pat@northwind.example")  # over SMTP, as always
    assert not (tmp_path / "mailbox").exists()


def test_the_mailbox_keeps_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(mailbox, "KEEP", 3)
    names = [mailbox.keep(tmp_path, f"Subject: {n}\r\n\r\nbody {n}\r\n".encode()) for n in range(5)]
    assert [kept.name for kept in mailbox.messages(tmp_path)] == names[:1:-1]
