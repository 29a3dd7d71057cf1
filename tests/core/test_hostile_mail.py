"""Text that breaks things, on the way out: what `send-reminders` prints and what
goes into mail headers is cleaned of control characters; an internationalized contact address is
delivered with its domain IDNA-encoded, and one that cannot be is refused at the form. Against the
real SMTP server (aiosmtpd)."""
import unicodedata
from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup

from webapp.accounts.models import Account
from webapp.cli.demo import demo_pdf
from webapp.core.text import printable
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License
from webapp.licenses.proofs import Upload
from webapp.reminders.models import Reminder

TODAY = date(2026, 3, 10)
# Stored before this release refused them at the form (or written by another tool): the cleaning on
# the way out must not rely on the form.
EVIL_ACCOUNT = "Evil\x1b]0;pwned\x07 Ltd"
EVIL_PLAN = "Office\x1b[2J 365\u202e E3\x7f"
EVIL_CONTACT = "Pat\x07 \u202eeoD\x1b[31m"


def unsafe(text):
    """The control, format and separator characters in `text`, except line breaks between lines."""
    return [ch for ch in text if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} and ch != "\n"]


@pytest.mark.parametrize("value, expected", [
    ("Office\x1b[2J 365", "Office[2J 365"),
    ("a\r\nBcc: x@evil.example", "a  Bcc: x@evil.example"),
    ("\u202eevil\u202c", "evil"),
    ("tab\there\x00", "tab here"),
    ("Müller 東京 😀", "Müller 東京 😀"),
])
def test_printable(value, expected):
    assert printable(value) == expected


@pytest.fixture
def mail_app(app, smtp_server):
    smtp_server.configure(app)
    return app


def add_license(account, plan, expires_on, contact_email, contact_name="Pat Doe"):
    """A license written through the store, as data from before this release could be."""
    with db.database.connection_context():
        from webapp.licenses.models import Product

        product = Product.get(Product.name == "MS Office 365")
        return license_store.add_license(
            account, None, product, plan,
            {"seats": 5, "term": "Yearly", "expires_on": expires_on, "tenant": "evil.onmicrosoft.com",
             "contact_name": contact_name, "contact_email": contact_email},
            Upload(demo_pdf(plan), "application/pdf", "proof.pdf"),
        )


def test_control_characters_never_reach_the_terminal_or_mail_headers(mail_app, runner, smtp_server):
    with db.database.connection_context():
        account = Account.create(name=EVIL_ACCOUNT)
    add_license(account, EVIL_PLAN, TODAY + timedelta(days=5), "pat@evil.example", contact_name=EVIL_CONTACT)
    add_license(account, EVIL_PLAN + " E5", TODAY + timedelta(days=6), "refused@evil.example")
    smtp_server.refuse["refused@evil.example"] = "550 5.1.1 No\x1b[2J such\x07 user"

    dry = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat(), "--dry-run"])
    run = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])

    assert dry.exit_code == 0 and "would send: 2026-03-15  Evil]0;pwned Ltd · Office[2J 365 E3" in dry.output
    assert run.exit_code == 1
    assert "failed: Evil]0;pwned Ltd · Office[2J 365 E3 E5" in run.stderr
    assert "recipient refused: 550 5.1.1 No[2J such user" in run.stderr
    for output in (dry.stdout, run.stdout, run.stderr):
        assert unsafe(output) == [], output
    [message] = smtp_server.to("pat@evil.example")
    assert message["Subject"] == "Office[2J 365 E3 expires on 15 Mar 2026: please update your proof of licensing"
    assert message["To"] == '"Pat eoD[31m" <pat@evil.example>'
    for name, value in message.items():
        assert unsafe(str(value)) == [], (name, value)


# --- internationalized contact addresses -------------------------------------------------------


def field_error(response, field_id):
    box = BeautifulSoup(response.get_data(as_text=True), "html.parser").find(id=f"{field_id}-error")
    return "" if box is None else " ".join(box.get_text(" ").split())


@pytest.mark.parametrize("address", ["jürgen@northwind.example", "ana.maría@bücher.example", "пат@northwind.example"])
def test_letters_beyond_ascii_before_the_at_are_refused_at_the_form(logged_in, license_form, address):
    response = logged_in.post("/licenses", data=license_form(contact_email=address))

    assert response.status_code == 422
    assert "Reminders cannot be sent to an address with letters like ü" in field_error(response, "contact_email")
    with db.database.connection_context():
        assert License.select().count() == 0


def test_an_internationalized_domain_is_accepted_and_its_reminder_delivered(
    mail_app, logged_in, license_form, runner, smtp_server, today
):
    expires_on = today + timedelta(days=10)
    response = logged_in.post("/licenses", data=license_form(
        contact_email="pat@Bücher.example", contact_name="Pat Müller", expires_on=expires_on.isoformat()))
    assert response.status_code == 302

    run = runner.invoke(args=["send-reminders", "--today", today.isoformat()])

    assert run.exit_code == 0, run.output
    assert run.output.strip().splitlines()[-1] == "sent 1, failed 0, skipped 0"
    [message] = smtp_server.to("pat@xn--bcher-kva.example")
    assert message["To"] == "Pat Müller <pat@xn--bcher-kva.example>"
    assert smtp_server.messages[0][0] == ("pat@xn--bcher-kva.example",)
    with db.database.connection_context():
        [reminder] = list(Reminder.select())
    assert reminder.status == Reminder.SENT and reminder.attempts == 1
    # The tab still shows the address as it was typed.
    assert "pat@Bücher.example" in logged_in.get("/licenses").get_data(as_text=True)


def test_an_address_stored_before_the_form_refused_it_still_fails_alone(mail_app, runner, smtp_server, account):
    add_license(account, "Office 365 E1", TODAY + timedelta(days=3), "pat@例え.example")
    add_license(account, "Office 365 E3", TODAY + timedelta(days=4), "jürgen@northwind.example")

    run = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])

    assert run.exit_code == 1
    assert len(smtp_server.to("pat@xn--r8jz45g.example")) == 1
    assert "non-ASCII" in run.stderr
