"""`flask send-digest`: the weekly staff digest to STAFF_DIGEST_TO, against a real SMTP server (aiosmtpd)."""
import re
import subprocess
from datetime import timedelta

from helpers import send

from config import _digest_addresses
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion

STAFF = "ops@provider.example, billing@provider.example"


def configure(app, text=STAFF):
    app.config["STAFF_DIGEST_TO"] = text
    app.config["STAFF_DIGEST_ADDRESSES"], app.config["STAFF_DIGEST_PROBLEM"] = _digest_addresses(text)


def digest(runner, today):
    result = runner.invoke(args=["send-digest", "--today", today.isoformat()])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def words(message):
    return " ".join(message.get_body(("plain",)).get_content().split())


def test_a_digest_with_nothing_to_report_still_goes_out_and_says_so(mail_app, runner, smtp_server, today):
    configure(mail_app)
    assert send(runner, today)[0] == 0  # send-reminders ran just now

    code, output = digest(runner, today)

    assert code == 0, output
    assert "nothing to report" in output
    [(recipients, message)] = smtp_server.messages
    assert sorted(recipients) == ["billing@provider.example", "ops@provider.example"]
    assert message["Subject"].endswith(": nothing to report")
    text = words(message)
    assert "Nothing to report this week" in text
    assert "Proofs awaiting review: 0" in text
    assert "Accounts whose next billing cycle is billed by subscription: 0" in text
    assert "still not delivered: 0" in text
    assert "Removals awaiting confirmation: 0" in text
    assert "send-reminders: ran in the last 48 hours" in text
    assert "If it stops arriving, check the cron jobs" in text


def test_the_digest_lists_reviews_subscription_accounts_failed_reminders_and_a_missing_cron(
    mail_app, runner, smtp_server, make_account, add_license, today
):
    configure(mail_app, "ops@provider.example")
    lapsed = make_account("Contoso Pharma", billing_day=1)
    add_license(lapsed, "Office 365 E3", today + timedelta(days=400), "it@contoso.example")
    expired = add_license(lapsed, "Office 365 E1", today + timedelta(days=3), "gone@contoso.example")
    make_account("Fabrikam", byol_enrolled=False)
    healthy = make_account("Tailspin")
    add_license(healthy, "Office 365 E5", today + timedelta(days=300), "ok@tailspin.example")
    with db.database.connection_context():
        LicenseVersion.update(submitted_at=utcnow() - timedelta(days=5, hours=1)).where(
            LicenseVersion.license == expired.id).execute()
    smtp_server.refuse["gone@contoso.example"] = "550 5.1.1 No such user here"
    assert send(runner, today)[0] == 1  # the reminder to gone@ fails
    smtp_server.refuse.clear()
    smtp_server.messages.clear()

    # Five days later: E1 has expired, and no send-reminders run since.
    later = today + timedelta(days=5)
    mail_app.config["CLOCK"] = lambda: utcnow() + timedelta(days=5)
    code, output = digest(runner, later)

    assert code == 0, output
    assert "action needed" in output
    [(recipients, message)] = smtp_server.messages
    assert recipients == ("ops@provider.example",) or list(recipients) == ["ops@provider.example"]
    assert message["Subject"].endswith(": action needed")
    text = words(message)
    assert "Nothing to report" not in text
    assert "Proofs awaiting review: 3 (the oldest has waited 10 days)" in text
    assert "Accounts whose next billing cycle is billed by subscription: 2" in text
    assert re.search(r"- Contoso Pharma, from 1 \w+ \d{4}: expired: Office 365 E1 ", text)
    # The account of the `user` fixture has no license on file.
    assert re.search(r"- Northwind Traders, from 1 \w+ \d{4}: no license on file ", text)
    assert "Tailspin" not in text
    assert "(1 more is not enrolled in BYOL.)" in text
    assert "still not delivered: 1" in text
    assert "Contoso Pharma · Office 365 E1 (30-day reminder, expires" in text
    assert "to gone@contoso.example, 1 attempt: recipient refused: 550 5.1.1 No such user here" in text
    assert "send-reminders: NO run has finished in the last 48 hours" in text
    html = message.get_body(("html",)).get_content()
    assert "Contoso Pharma, from" in html and "No run has finished in the last 48 hours" in html


def test_without_staff_digest_to_the_command_exits_2_and_sends_nothing(mail_app, runner, smtp_server, today):
    configure(mail_app, "")
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 2
    assert "STAFF_DIGEST_TO is not set" in result.output
    configure(mail_app, "ops@provider.example; billing")
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 2
    assert "STAFF_DIGEST_TO='ops@provider.example; billing' is not a comma-separated list" in result.output
    assert smtp_server.messages == []


def test_without_a_sender_the_command_exits_2(mail_app, runner, smtp_server):
    from webapp.extensions import mail

    configure(mail_app)
    mail_app.config["MAIL_DEFAULT_SENDER"] = None
    mail.init_app(mail_app)
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 2 and "MAIL_DEFAULT_SENDER is not set" in result.output


def test_a_mail_server_that_refuses_makes_the_command_exit_1(mail_app, runner, smtp_server, today):
    configure(mail_app, "ops@provider.example")
    smtp_server.refuse["ops@provider.example"] = "550 5.1.1 No such user here"

    code, output = digest(runner, today)

    assert code == 1
    assert "the digest was not sent" in output and "550 5.1.1" in output


def test_the_real_command_exits_2_with_one_line_for_an_unusable_address(app, database_url, smtp_server):
    from reminders.test_send_reminders import FLASK, ROOT, cli_env

    env = cli_env(database_url, smtp_server, STAFF_DIGEST_TO="ops at provider")
    result = subprocess.run([FLASK, "send-digest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "STAFF_DIGEST_TO='ops at provider' is not a comma-separated list of email addresses" in result.stderr
    assert smtp_server.messages == []


def test_the_digest_lists_removals_awaiting_confirmation(mail_app, runner, smtp_server, account, user, add_license,
                                                         today):
    from webapp.licenses import store as license_store

    configure(mail_app, "ops@provider.example")
    lapsed = add_license(account, "Office 365 E1", today - timedelta(days=3), "gone@northwind.example")
    with db.database.connection_context():
        license_store.request_removal(lapsed, user)
    assert send(runner, today)[0] == 0

    code, output = digest(runner, today)

    assert code == 0, output
    text = words(smtp_server.messages[-1][1])
    assert "Removals awaiting confirmation: 1" in text
    assert "- Northwind Traders · Office 365 E1, asked" in text and "by pat@northwind.example" in text
    assert "action needed" in output
