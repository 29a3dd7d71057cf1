"""webapp.core.mail: every email is a text/HTML template pair, one Flask-Mail message, sent with a timeout
to a real SMTP server (aiosmtpd on 127.0.0.1)."""
import time

import pytest

from webapp.core.mail import (
    MailSettingsError,
    build_email,
    portal_url,
    send_email,
    send_many,
)
from webapp.extensions import mail


@pytest.fixture
def mail_app(app, smtp_server):
    smtp_server.configure(app)
    return app


def _reset(app, to="pat@northwind.example", **context):
    fields = {"name": "Pat Doe", "email": to, "link": "http://portal.test/reset/abc", "valid_for": "1 hour"}
    fields.update(context)
    with app.app_context():
        return send_email("password_reset", to, "Set a new password", **fields)


def test_an_email_arrives_with_its_text_and_html_parts_and_the_provider(mail_app, smtp_server):
    _reset(mail_app)
    [message] = smtp_server.to("pat@northwind.example")
    assert message["Subject"] == "Set a new password"
    assert message["To"] == "pat@northwind.example"
    assert message["From"] == "licenses@example-hosting.test"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Example Hosting" in part
        assert "http://portal.test/reset/abc" in part
        assert "http://portal.test" in part.replace("http://portal.test/reset/abc", "")
        assert "support@example-hosting.test" in part


def test_html_in_the_context_is_escaped_in_the_html_part_only(mail_app, smtp_server):
    _reset(mail_app, name="<b>Pat</b>")
    [message] = smtp_server.messages[0][1:]
    assert "&lt;b&gt;Pat&lt;/b&gt;" in message.get_body(("html",)).get_content()
    assert "<b>Pat</b>" in message.get_body(("plain",)).get_content()


def test_an_internationalized_domain_is_sent_idna_encoded(mail_app, smtp_server):
    _reset(mail_app, to="pat@bücher.example")
    assert smtp_server.messages[0][0] == ("pat@xn--bcher-kva.example",)


def test_a_subject_cannot_add_header_lines(mail_app, smtp_server):
    _reset(mail_app)
    with mail_app.app_context():
        send_email("password_reset", "pat@northwind.example", "Hi\r\nBcc: evil@attacker.example\u202e",
                   name="", email="pat@northwind.example", link="x", valid_for="1 hour")
    message = smtp_server.messages[1][1]
    assert message["Subject"] == "Hi Bcc: evil@attacker.example"
    assert message["Bcc"] is None
    assert smtp_server.messages[1][0] == ("pat@northwind.example",)


def test_many_messages_share_one_connection_and_a_refusal_stops_none(mail_app, smtp_server):
    sessions = []

    async def note_session(session, envelope):
        sessions.append(id(session))

    smtp_server.before_data = note_session
    smtp_server.refuse["gone@northwind.example"] = "550 5.1.1 no such user"
    addresses = ["a@northwind.example", "gone@northwind.example", "b@northwind.example"]
    with mail_app.app_context():
        messages = [
            build_email("password_reset", to, "Set a new password", name="", email=to, link="x", valid_for="1 hour")
            for to in addresses
        ]
        errors = send_many(messages)
    assert errors[0] is None and errors[2] is None
    assert "550" in errors[1]
    assert [recipients for recipients, _ in smtp_server.messages] == [("a@northwind.example",), ("b@northwind.example",)]
    assert len(set(sessions)) == 1


def test_a_server_that_stops_answering_is_given_up_after_mail_timeout(mail_app, smtp_server):
    smtp_server.stall_at_mail = 3
    mail_app.config["MAIL_TIMEOUT"] = 0.3
    started = time.monotonic()
    with pytest.raises(OSError):
        _reset(mail_app)
    assert time.monotonic() - started < 2


def test_suppressed_sending_or_no_sender_is_a_settings_error(mail_app, smtp_server):
    mail_app.config["MAIL_SUPPRESS_SEND"] = True
    mail.init_app(mail_app)
    with pytest.raises(MailSettingsError, match="MAIL_SUPPRESS_SEND"):
        _reset(mail_app)
    mail_app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_DEFAULT_SENDER=None)
    mail.init_app(mail_app)
    with pytest.raises(MailSettingsError, match="MAIL_DEFAULT_SENDER"):
        _reset(mail_app)
    assert smtp_server.messages == []


def test_portal_url_comes_from_the_setting_not_the_request(mail_app):
    mail_app.config["PORTAL_URL"] = "https://licenses.provider.example/portal"
    with mail_app.test_request_context("/", base_url="http://evil.example"):
        assert portal_url("auth.login") == "https://licenses.provider.example/portal/login"


def test_a_server_that_closes_the_connection_between_messages_gets_a_fresh_one(mail_app, smtp_server):
    smtp_server.hang_up_after = 2
    addresses = [f"p{i}@northwind.example" for i in range(5)]
    with mail_app.app_context():
        errors = send_many([
            build_email("password_reset", to, "Set a new password", name="", email=to, link="x", valid_for="1 hour")
            for to in addresses
        ])
    assert errors == [None] * 5
    assert [recipients for recipients, _ in smtp_server.messages] == [(a,) for a in addresses]


def test_a_subject_just_under_the_fold_arrives_without_a_leading_space(mail_app, smtp_server):
    # 70 to 78 characters: policy.SMTP would move it whole onto a continuation line.
    subject = "Office 365 <E3> expires on 13 Mar 2026: please update your proof of licensing"
    with mail_app.app_context():
        send_email("password_reset", "pat@northwind.example", subject,
                   name="", email="pat@northwind.example", link="x", valid_for="1 hour")
    [message] = smtp_server.to("pat@northwind.example")
    assert message["Subject"] == subject


def test_letters_beyond_ascii_before_the_at_fail_alone_and_are_not_rewritten(mail_app, smtp_server):
    addresses = ["jürgen@northwind.example", "pat@northwind.example"]
    with mail_app.app_context():
        errors = send_many([
            build_email("password_reset", to, "Set a new password", to_name="Jürgen", name="", email=to,
                        link="x", valid_for="1 hour")
            for to in addresses
        ])
    assert errors[0] is not None and "UnicodeEncodeError" in errors[0]
    assert errors[1] is None
    # Flask-Mail alone would have sent it to "=?utf-8?q?j=C3=BCrgen?=@northwind.example".
    assert [recipients for recipients, _ in smtp_server.messages] == [("pat@northwind.example",)]
    [message] = smtp_server.to("pat@northwind.example")
    assert message["To"] == "Jürgen <pat@northwind.example>"
