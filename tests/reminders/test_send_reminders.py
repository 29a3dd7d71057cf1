"""`flask send-reminders`: the 30-day reminder, exactly once, against a real SMTP server (aiosmtpd)."""
import asyncio
import os
import pty
import random
import re
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import count_queries
from helpers import PRODUCTION_TOTP_KEY, proof_document, renew_license, send, summary_of

from webapp.accounts.models import Account
from webapp.core.clock import utcnow
from webapp.extensions import db, mail
from webapp.licenses.models import License, LicenseVersion, Product
from webapp.licenses.rules import next_cycle_start
from webapp.reminders import reminder_state
from webapp.reminders.models import Reminder, ReminderAttempt

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
TODAY = date(2026, 3, 10)


# --- factories ------------------------------------------------------------------------------


@pytest.fixture
def proof(app, account):
    return proof_document(account)


def renew(license, expires_on, contact_email=None):
    """A renewal that keeps the terms on file, with a new date (and contact email, if given)."""
    changes = {"contact_email": contact_email} if contact_email else {}
    return renew_license(license, expires_on, proof=None, **changes)


def reminder_rows():
    with db.database.connection_context():
        return list(Reminder.select().order_by(Reminder.id))


def attempt_rows():
    with db.database.connection_context():
        return list(ReminderAttempt.select().order_by(ReminderAttempt.id))


# --- which licenses are due -----------------------------------------------------------------


@pytest.mark.parametrize("days_before, due", [(31, None), (30, "expires on"), (1, "expires on"), (0, "expires on"),
                                               (-1, "expired on")])
def test_due_window_edges(mail_app, runner, smtp_server, account, add_license, days_before, due):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=days_before), "pat@northwind.example")

    code, output, counts = send(runner, TODAY)

    assert code == 0, output
    assert counts == ((1, 0, 0) if due else (0, 0, 0))
    received = smtp_server.to("pat@northwind.example")
    assert len(received) == (1 if due else 0)
    if due:
        # The day after expiry the reminder is over; the lapse notice goes instead.
        assert due in received[0]["Subject"]


def test_a_license_entered_after_its_window_opened_is_reminded_on_the_next_run(
    mail_app, runner, smtp_server, account, add_license
):
    send(runner, TODAY)  # nothing there yet
    add_license(account, "Office 365 E3", TODAY + timedelta(days=12), "pat@northwind.example")

    assert send(runner, TODAY + timedelta(days=1))[2] == (1, 0, 0)
    assert len(smtp_server.to("pat@northwind.example")) == 1


def test_suspended_or_not_enrolled_accounts_get_no_reminder(
    mail_app, runner, smtp_server, make_account, add_license
):
    suspended = make_account("Suspended Ltd", status=Account.SUSPENDED)
    subscribed = make_account("Subscribed Ltd", byol_enrolled=False)
    active = make_account("Active Ltd")
    for account, email in ((suspended, "s@x.example"), (subscribed, "b@x.example"), (active, "a@x.example")):
        add_license(account, "Office 365 E3", TODAY + timedelta(days=10), email)

    code, output, counts = send(runner, TODAY)

    assert (code, counts) == (0, (1, 0, 0)), output
    assert [recipients for recipients, _ in smtp_server.messages] == [("a@x.example",)]
    assert [r.license.account_id for r in reminder_rows()] == [active.id]


def test_a_reactivated_account_gets_its_reminder_while_the_license_has_not_expired(
    mail_app, runner, smtp_server, make_account, add_license
):
    account = make_account("Paused Ltd", status=Account.SUSPENDED)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=10), "p@x.example")
    assert send(runner, TODAY)[2] == (0, 0, 0)
    with db.database.connection_context():
        Account.update(status=Account.ACTIVE).where(Account.id == account.id).execute()

    assert send(runner, TODAY + timedelta(days=3))[2] == (1, 0, 0)
    assert len(smtp_server.to("p@x.example")) == 1


# --- exactly once ---------------------------------------------------------------------------


def test_running_twice_sends_one_email(mail_app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "pat@northwind.example")

    assert send(runner, TODAY)[2] == (1, 0, 0)
    assert send(runner, TODAY)[2] == (0, 0, 0)
    assert send(runner, TODAY + timedelta(days=5))[2] == (0, 0, 0)

    assert len(smtp_server.messages) == 1
    [reminder] = reminder_rows()
    assert (reminder.status, reminder.attempts, reminder.recipient) == ("sent", 1, "pat@northwind.example")
    assert reminder.sent_at is not None and reminder.claim_token is None
    [attempt] = attempt_rows()
    assert (attempt.outcome, attempt.recipient, attempt.expires_on, attempt.license_id, attempt.error) == (
        "sent", "pat@northwind.example", TODAY + timedelta(days=20), reminder.license_id, "")


def test_a_renewal_with_a_new_date_rearms_the_reminder(mail_app, runner, smtp_server, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "pat@northwind.example")
    assert send(runner, TODAY)[2] == (1, 0, 0)

    renewed_to = TODAY + timedelta(days=20 + 365)
    renew(license, renewed_to)
    assert send(runner, TODAY + timedelta(days=1))[2] == (0, 0, 0)  # the new date is a year out
    assert send(runner, renewed_to - timedelta(days=30))[2] == (1, 0, 0)
    assert send(runner, renewed_to - timedelta(days=29))[2] == (0, 0, 0)

    subjects = [m["Subject"] for m in smtp_server.to("pat@northwind.example")]
    assert len(subjects) == 2
    assert "30 Mar 2026" in subjects[0] and "30 Mar 2027" in subjects[1]


def test_an_update_that_keeps_the_date_does_not_send_again(mail_app, runner, smtp_server, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "pat@northwind.example")
    assert send(runner, TODAY)[2] == (1, 0, 0)

    renew(license, TODAY + timedelta(days=20), contact_email="new-contact@northwind.example")

    assert send(runner, TODAY + timedelta(days=1))[2] == (0, 0, 0)
    assert len(smtp_server.messages) == 1


def test_the_reminder_goes_to_the_contact_on_the_current_form(mail_app, runner, smtp_server, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=60), "old@northwind.example")
    renew(license, TODAY + timedelta(days=25), contact_email="new@northwind.example")

    assert send(runner, TODAY)[2] == (1, 0, 0)
    assert smtp_server.to("old@northwind.example") == []
    assert len(smtp_server.to("new@northwind.example")) == 1


# --- the email ------------------------------------------------------------------------------


def test_the_email_says_what_when_and_what_happens_and_links_to_the_tab(
    mail_app, runner, smtp_server, make_account, add_license
):
    account = make_account("Contoso Pharma", billing_day=15)
    expires_on = date(2026, 3, 31)
    add_license(account, "Microsoft 365 Business Standard", expires_on, "dana@contoso.example",
                seats=25, contact_name="Dana Søndergaard")
    add_license(account, "Office 365 E3", expires_on + timedelta(days=200), "it@contoso.example", seats=15)

    assert send(runner, TODAY)[2] == (1, 0, 0)

    [message] = smtp_server.to("dana@contoso.example")
    assert message["Subject"] == (
        "Microsoft 365 Business Standard expires on 31 Mar 2026: please update your proof of licensing")
    assert message["To"] == "Dana Søndergaard <dana@contoso.example>"
    assert message["From"] == mail_app.config["MAIL_DEFAULT_SENDER"]
    assert message["Message-ID"] and message["Date"]
    # Flask-Mail wraps the text/HTML alternative in multipart/mixed (room for attachments).
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    next_cycle = next_cycle_start(expires_on, 15)
    assert next_cycle == date(2026, 4, 15)
    link = "http://portal.test/licenses"
    for part in (text, html):
        assert "Contoso Pharma" in part
        assert "Microsoft 365 Business Standard" in part
        assert "25" in part
        assert "31 Mar 2026" in part
        assert "15 Apr 2026" in part  # the next billing cycle after the expiration date
        assert "All 40 BYOL users" in part  # both plans' seats move, not just this one's
        assert "not refunded" in part
        assert link in part
        assert "Example Hosting" in part  # PROVIDER_NAME
        assert "support@example-hosting.test" in part
        assert "Dana Søndergaard" in part
    assert f'href="{link}"' in html
    assert "<strong>15 Apr 2026</strong>" in html


def test_the_link_comes_from_portal_url_with_its_path(mail_app, runner, smtp_server, account, add_license):
    mail_app.config["PORTAL_URL"] = "https://licenses.provider.example/portal/"
    add_license(account, "Office 365 E3", TODAY + timedelta(days=3), "pat@northwind.example")

    send(runner, TODAY)

    [message] = smtp_server.messages[0][1:]
    assert "https://licenses.provider.example/portal/licenses" in message.get_body(("plain",)).get_content()


def test_html_in_customer_fields_is_escaped_in_the_html_part(mail_app, runner, smtp_server, make_account, add_license):
    account = make_account("<b>Bold</b> & Co")
    add_license(account, "Office 365 <E3>", TODAY + timedelta(days=3), "pat@bold.example")

    send(runner, TODAY)

    [message] = smtp_server.to("pat@bold.example")
    html = message.get_body(("html",)).get_content()
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html and "<b>Bold</b>" not in html
    assert "<b>Bold</b> & Co" in message.get_body(("plain",)).get_content()
    assert message["Subject"].startswith("Office 365 <E3> expires on")


# --- the command ----------------------------------------------------------------------------


def test_dry_run_lists_what_would_be_sent_and_records_nothing(mail_app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=7), "pat@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=90), "later@northwind.example")

    code, output, counts = send(runner, TODAY, "--dry-run")

    assert code == 0
    assert "would send: 2026-03-17  Northwind Traders · Office 365 E3  to pat@northwind.example" in output
    assert "later@northwind.example" not in output
    assert "1 would be sent" in output
    assert counts == (0, 0, 0)
    assert smtp_server.messages == [] and reminder_rows() == [] and attempt_rows() == []
    # ... and the real run afterwards still sends it.
    assert send(runner, TODAY)[2] == (1, 0, 0)


def test_the_command_refuses_to_run_when_mail_is_suppressed(app, runner, account, add_license):
    app.config["MAIL_SUPPRESS_SEND"] = True
    mail.init_app(app)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=7), "pat@northwind.example")

    result = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])

    assert result.exit_code == 2
    assert "MAIL_SUPPRESS_SEND" in result.output
    assert reminder_rows() == []


def test_without_a_sender_the_command_exits_2_and_sends_nothing(mail_app, runner, smtp_server, account, add_license):
    mail_app.config["MAIL_DEFAULT_SENDER"] = None
    mail.init_app(mail_app)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=7), "pat@northwind.example")

    result = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])

    assert result.exit_code == 2
    assert "MAIL_DEFAULT_SENDER is not set" in result.output
    assert reminder_rows() == [] and smtp_server.messages == []


def test_today_defaults_to_the_business_day(mail_app, runner, smtp_server, account, add_license, today):
    add_license(account, "Office 365 E3", today + timedelta(days=5), "pat@northwind.example")

    result = runner.invoke(args=["send-reminders"])

    assert result.exit_code == 0, result.output
    assert summary_of(result.output) == (1, 0, 0)


def test_sql_queries_grow_with_batches_not_with_licenses(mail_app, runner, smtp_server, make_account, app):
    def queries_for(due, batch_size):
        mail_app.config["REMINDER_BATCH_SIZE"] = batch_size
        account = make_account(f"Account {due}x{batch_size}")
        bulk_licenses(account, due, TODAY + timedelta(days=9), prefix=f"q{due}-{batch_size}-")
        with count_queries() as queries:
            assert send(runner, TODAY)[2] == (due, 0, 0)
        return len([q for q in queries if not q.startswith(("BEGIN", "COMMIT"))])

    four_batches_of_5 = queries_for(20, 5)
    four_batches_of_25 = queries_for(100, 25)
    eight_batches_of_5 = queries_for(40, 5)
    assert four_batches_of_5 == four_batches_of_25
    assert eight_batches_of_5 > four_batches_of_5


# --- SMTP faults ----------------------------------------------------------------------------


def test_refusals_and_dropped_connections_mid_batch_are_recorded_and_retried(
    mail_app, runner, smtp_server, account, add_license
):
    mail_app.config["REMINDER_BATCH_SIZE"] = 4
    contacts = [f"c{n}@northwind.example" for n in range(12)]
    for n, contact in enumerate(contacts):
        add_license(account, f"Plan {n:02d}", TODAY + timedelta(days=1 + n), contact)
    smtp_server.refuse[contacts[2]] = "450 4.2.1 Mailbox busy, try again later"
    smtp_server.refuse[contacts[5]] = "550 5.1.1 No such user here"
    smtp_server.drop_at_rcpt.add(contacts[7])
    smtp_server.drop_at_data.add(contacts[9])

    code, output, counts = send(runner, TODAY)

    assert code == 1
    assert counts == (8, 4, 0)
    faulty = {contacts[2], contacts[5], contacts[7], contacts[9]}
    for contact in contacts:
        assert len(smtp_server.to(contact)) == (0 if contact in faulty else 1), contact
    by_recipient = {r.recipient: r for r in reminder_rows()}
    assert "450 4.2.1 Mailbox busy, try again later" in by_recipient[contacts[2]].last_error
    assert "550 5.1.1 No such user here" in by_recipient[contacts[5]].last_error
    assert "closed the connection" in by_recipient[contacts[7]].last_error
    assert "closed the connection" in by_recipient[contacts[9]].last_error
    assert {r.status for c, r in by_recipient.items() if c in faulty} == {"failed"}
    assert {r.status for c, r in by_recipient.items() if c not in faulty} == {"sent"}
    assert f"to {contacts[5]}: recipient refused: 550 5.1.1 No such user here" in output
    # A refusal for the recipient uses up an attempt; a connection lost mid-message does not.
    outcomes = {a.recipient: a.outcome for a in attempt_rows() if a.outcome != "sent"}
    assert outcomes == {contacts[2]: "failed", contacts[5]: "failed",
                        contacts[7]: "interrupted", contacts[9]: "interrupted"}
    assert all(a.error for a in attempt_rows() if a.outcome != "sent")
    assert {c: by_recipient[c].attempts for c in faulty} == {
        contacts[2]: 1, contacts[5]: 1, contacts[7]: 0, contacts[9]: 0}
    expires = (TODAY + timedelta(days=8)).isoformat()
    assert f"interrupted: Northwind Traders · Plan 07 (expires {expires}) to {contacts[7]}" in output

    smtp_server.refuse.clear()
    smtp_server.drop_at_rcpt.clear()
    smtp_server.drop_at_data.clear()
    code, output, counts = send(runner, TODAY + timedelta(days=1))

    assert (code, counts) == (0, (4, 0, 0)), output
    for contact in contacts:
        assert len(smtp_server.to(contact)) == 1, contact
    assert {r.status for r in reminder_rows()} == {"sent"}
    assert len(attempt_rows()) == 16


def test_after_the_last_allowed_attempt_it_stays_failed_and_staff_see_it(
    mail_app, runner, smtp_server, account, add_license, client, admin, login, today
):
    # The admin page reads the real date, so this test runs as of it.
    mail_app.config["REMINDER_MAX_ATTEMPTS"] = 2
    add_license(account, "Office 365 E3", today + timedelta(days=20), "gone@northwind.example")
    smtp_server.refuse["gone@northwind.example"] = "550 5.1.1 No such user here"

    assert send(runner, today)[:3:2] == (1, (0, 1, 0))
    login(client, admin.email)
    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert "Reminders not delivered" in page and "gone@northwind.example" in page
    assert "will be retried on the next run (attempt 2 of 2)" in page

    assert "1 would be sent" in send(runner, today + timedelta(days=1), "--dry-run")[1]  # a retry is due
    assert send(runner, today + timedelta(days=1))[:3:2] == (1, (0, 1, 0))
    smtp_server.refuse.clear()
    code, output, counts = send(runner, today + timedelta(days=2), "--dry-run")
    assert (code, counts) == (0, (0, 0, 1)) and "0 would be sent" in output
    # Used up: later runs leave it alone (skipped) and no longer fail.
    assert send(runner, today + timedelta(days=2))[:3:2] == (0, (0, 0, 1))
    assert smtp_server.messages == []

    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert "gave up after 2 attempts" in page
    assert "550 5.1.1 No such user here" in page
    [reminder] = reminder_rows()
    assert (reminder.status, reminder.attempts) == ("failed", 2)


def test_the_admin_page_lists_no_reminder_once_delivered(
    mail_app, runner, smtp_server, account, add_license, client, admin, login, today
):
    add_license(account, "Office 365 E3", today + timedelta(days=20), "pat@northwind.example")
    send(runner, today)
    login(client, admin.email)

    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)

    assert "None queued or failing. The last reminder run started" in page and "(sent 1, failed 0, skipped 0)" in page
    assert "every reminder" not in page and "No reminder run yet" not in page


def test_before_the_first_run_the_admin_page_says_no_run_yet(app, account, add_license, client, admin, login, today):
    add_license(account, "Office 365 E3", today + timedelta(days=20), "pat@northwind.example")
    login(client, admin.email)

    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)

    assert "No reminder run yet" in page
    assert "every reminder" not in page and "None queued" not in page


def _point_mail_at(app, port, timeout):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=timeout)
    mail.init_app(app)


def test_a_mail_server_that_never_answers_does_not_hang_the_run(app, runner, account, add_license, smtp_server):
    app.config["REMINDER_BATCH_SIZE"] = 3
    contacts = [f"c{n}@northwind.example" for n in range(7)]
    for n, contact in enumerate(contacts):
        add_license(account, f"Plan {n}", TODAY + timedelta(days=1 + n), contact)
    # Accepts connections (the kernel completes them) and never says a word.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        _point_mail_at(app, silent.getsockname()[1], timeout=1)
        started = time.monotonic()
        code, output, counts = send(runner, TODAY)
        elapsed = time.monotonic() - started

    assert elapsed < 6, f"the run took {elapsed:.1f} s"
    assert code == 1
    # The first try is recorded; the run stops instead of waiting out every reminder, and the rest
    # of the claimed batch is released untouched for the next run.
    assert counts == (0, 1, 6)
    assert "no answer from the mail server within 1 s" in output
    [failed] = [r for r in reminder_rows() if r.status == "failed"]
    assert failed.recipient == contacts[0] and "no answer from the mail server" in failed.last_error
    assert failed.attempts == 0
    assert [(a.recipient, a.outcome) for a in attempt_rows()] == [(contacts[0], "unreachable")]
    assert all(r.claim_token is None and r.attempts == 0 for r in reminder_rows())

    smtp_server.configure(app)
    assert send(runner, TODAY + timedelta(days=1))[:3:2] == (0, (7, 0, 0))
    assert all(len(smtp_server.to(c)) == 1 for c in contacts)


def test_a_refused_connection_is_recorded_as_unreachable_and_costs_no_attempt(app, runner, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=3), "pat@northwind.example")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    _point_mail_at(app, closed_port, timeout=2)

    code, output, counts = send(runner, TODAY)

    assert (code, counts) == (1, (0, 1, 0))
    [reminder] = reminder_rows()
    assert (reminder.status, reminder.attempts) == ("failed", 0)
    assert f"could not connect to the mail server 127.0.0.1:{closed_port}" in reminder.last_error
    [attempt] = attempt_rows()
    assert attempt.outcome == "unreachable" and attempt.error == reminder.last_error
    assert "unreachable: Northwind Traders · Office 365 E3" in output


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_seven_days_without_a_mail_server_lose_no_reminder(app, runner, account, add_license, smtp_server):
    app.config["REMINDER_BATCH_SIZE"] = 3
    # Soonest first, so the first batch holds the same reminders day after day; the one at +2 days
    # expires during the outage, the ones at +33 and +37 days come due during it.
    contacts = {f"c{days}@northwind.example": TODAY + timedelta(days=days)
                for days in (2, 10, 12, 14, 20, 25, 29, 33, 37)}
    for n, (contact, expires_on) in enumerate(contacts.items()):
        add_license(account, f"Plan {n}", expires_on, contact)
    _point_mail_at(app, _closed_port(), timeout=2)

    for day in range(7):
        code, output, (sent, failed, skipped) = send(runner, TODAY + timedelta(days=day))
        assert (code, sent) == (1, 0) and failed > 0, output
        assert "stopped early: could not connect to the mail server" in output

    smtp_server.configure(app)
    code, output, counts = send(runner, TODAY + timedelta(days=7))

    # The 8 reminders still due, and the lapse notice of the one that expired during the outage, to
    # its contact and the account's authorized user.
    assert (code, counts) == (0, (10, 0, 0)), output
    for contact, expires_on in contacts.items():
        reminders = [m for m in smtp_server.to(contact) if "expires on" in m["Subject"]]
        assert len(reminders) == (0 if expires_on < TODAY + timedelta(days=7) else 1), contact
    notices = [(r, m["Subject"]) for r, m in smtp_server.messages if "expired on" in m["Subject"]]
    assert sorted(r for r, _ in notices) == [("c2@northwind.example",), ("pat@northwind.example",)]
    assert send(runner, TODAY + timedelta(days=8))[:3:2] == (0, (0, 0, 0))
    assert len(smtp_server.messages) == 10
    # Each day of the outage tried one message, recorded it, and used up no attempt.
    outage = [a for a in attempt_rows() if a.outcome != "sent"]
    assert [a.outcome for a in outage] == ["unreachable"] * 7
    assert {r.recipient: (r.status, r.attempts) for r in reminder_rows() if r.kind == "expiry-30-days"} == {
        contact: ("sent", 1) if contact != "c2@northwind.example" else ("failed", 0) for contact in contacts
    }
    assert {(r.recipient, r.status) for r in reminder_rows() if r.kind == "lapse-notice"} == {
        ("c2@northwind.example", "sent"), ("pat@northwind.example", "sent")}


@pytest.mark.parametrize("settings, said", [
    ({"MAIL_USE_TLS": True}, "STARTTLS extension not supported"),
    ({"MAIL_USERNAME": "reminders", "MAIL_PASSWORD": "not-used"}, "SMTP AUTH extension not supported"),
], ids=["tls", "login"])
def test_a_tls_or_login_failure_costs_no_attempt(mail_app, runner, smtp_server, account, add_license, settings, said):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=3), "pat@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=4), "kim@northwind.example")
    mail_app.config.update(settings)
    mail.init_app(mail_app)

    code, output, counts = send(runner, TODAY)

    assert (code, counts) == (1, (0, 1, 1))
    assert said in output and smtp_server.messages == []
    assert [(a.recipient, a.outcome) for a in attempt_rows()] == [("pat@northwind.example", "unreachable")]
    assert {r.attempts for r in reminder_rows()} == {0}

    mail_app.config.update(MAIL_USE_TLS=False, MAIL_USERNAME=None, MAIL_PASSWORD=None)
    mail.init_app(mail_app)
    assert send(runner, TODAY + timedelta(days=1))[:3:2] == (0, (2, 0, 0))


def test_no_answer_before_any_recipient_costs_no_attempt(app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=3), "pat@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=4), "kim@northwind.example")
    smtp_server.stall_at_mail = 3
    _point_mail_at(app, smtp_server.port, timeout=1)

    code, output, counts = send(runner, TODAY)

    assert (code, counts) == (1, (0, 1, 1))
    [attempt] = attempt_rows()
    assert (attempt.recipient, attempt.outcome) == ("pat@northwind.example", "unreachable")
    assert "took no message: no answer from the mail server within 1 s" in attempt.error
    assert {r.attempts for r in reminder_rows()} == {0}

    smtp_server.stall_at_mail = 0
    assert send(runner, TODAY + timedelta(days=1))[:3:2] == (0, (2, 0, 0))


def test_a_server_that_hangs_up_after_some_messages_gets_the_rest_on_a_new_connection(
    mail_app, runner, smtp_server, account, add_license
):
    contacts = [f"c{n}@northwind.example" for n in range(5)]
    for n, contact in enumerate(contacts):
        add_license(account, f"Plan {n}", TODAY + timedelta(days=1 + n), contact)
    smtp_server.hang_up_after = 2

    assert send(runner, TODAY)[:3:2] == (0, (5, 0, 0))
    assert all(len(smtp_server.to(c)) == 1 for c in contacts)
    assert {a.outcome for a in attempt_rows()} == {"sent"}


# --- a 400-day simulation -------------------------------------------------------------------


def test_four_hundred_days_of_cron_with_gaps_sends_each_reminder_exactly_once(
    mail_app, runner, smtp_server, make_account, add_license
):
    rng = random.Random(20260310)
    start = TODAY
    accounts = [make_account(f"Sim {n}", billing_day=1 + 9 * n) for n in range(3)]
    licenses = {}  # contact -> license
    events = []  # (day, order, action)
    for n in range(80):
        account = accounts[n % 3]
        expires_on = start + timedelta(days=rng.randint(-5, 400))
        if expires_on < start:
            expires_on = start + timedelta(days=rng.randint(0, 20))
        contact = f"lic{n}@sim.example"
        licenses[contact] = add_license(account, f"Plan {n}", expires_on, contact)
        current = expires_on
        for _ in range(rng.choice([0, 1, 1, 2])):
            # Renewed some time between 40 days before and 20 days after the old date; sometimes late.
            when = current + timedelta(days=rng.randint(-40, 20))
            when = max(when, start + timedelta(days=1))
            same_date = rng.random() < 0.15
            new_date = current if same_date else current + timedelta(days=rng.choice([365, 200, 45]))
            events.append((when, len(events), ("renew", licenses[contact], new_date)))
            current = new_date
    paused = accounts[2]
    events.append((start + timedelta(days=100), len(events), ("status", paused, Account.SUSPENDED)))
    events.append((start + timedelta(days=160), len(events), ("status", paused, Account.ACTIVE)))
    events.append((start + timedelta(days=220), len(events), ("enrolled", accounts[1], False)))
    events.append((start + timedelta(days=260), len(events), ("enrolled", accounts[1], True)))
    events.sort(key=lambda e: (e[0], e[1]))

    def apply(action):
        kind, target, value = action
        with db.database.connection_context():
            if kind == "renew":
                renew(target, value)
            elif kind == "status":
                Account.update(status=value).where(Account.id == target.id).execute()
            else:
                Account.update(byol_enrolled=value).where(Account.id == target.id).execute()

    def due_now(day, first, last):
        """The oracle: the reminder rule of docs/domain.md, evaluated from the rows as they stand on `day`:
        (contact, expiration date) of every license `first` to `last` days from expiry."""
        with db.database.connection_context():
            rows = (
                License.select(License, LicenseVersion, Account)
                .join(LicenseVersion, on=(License.current == LicenseVersion.id))
                .switch(License).join(Account)
            )
            return {
                (lic.current.contact_email, lic.current.expires_on)
                for lic in rows
                if first <= (lic.current.expires_on - day).days <= last
                and lic.account.status == Account.ACTIVE and lic.account.byol_enrolled
            }

    expected, expected_notices = set(), set()
    sent_on, notices_on = {}, {}  # (contact, expires_on) -> [run days]
    day, runs = start, 0
    while day <= start + timedelta(days=400):
        while events and events[0][0] <= day:
            apply(events.pop(0)[2])
        expected |= due_now(day, 0, 30)
        # The lapse notice: from the day after expiry, for 30 days, while that date still stands.
        expected_notices |= due_now(day, -30, -1)
        before = len(smtp_server.messages)
        code, output, counts = send(runner, day)
        assert code == 0 and counts[1] == 0, output
        for recipients, message in smtp_server.messages[before:]:
            kind, subject_date = re.search(r"(expires|expired) on (\d+ \w+ \d{4}):", message["Subject"]).groups()
            expires_on = datetime.strptime(subject_date, "%d %b %Y").date()
            (sent_on if kind == "expires" else notices_on).setdefault((recipients[0], expires_on), []).append(day)
        runs += 1
        day += timedelta(days=rng.randint(1, 10))

    assert runs > 60
    assert len(expected) > 80
    assert len({contact for contact, _ in expected}) < len(expected)  # renewals re-armed some
    duplicates = {key: days for key, days in sent_on.items() if len(days) > 1}
    assert duplicates == {}
    assert set(sent_on) == expected
    late = {key: days for key, days in sent_on.items() if days[0] > key[1] or days[0] < key[1] - timedelta(days=30)}
    assert late == {}
    assert expected_notices and set(notices_on) == expected_notices
    assert {key: days for key, days in notices_on.items() if len(days) > 1} == {}
    assert {key: days for key, days in notices_on.items()
            if not key[1] < days[0] <= key[1] + timedelta(days=30)} == {}


# --- bulk rows for the overlap and query-count tests ------------------------------------------


def bulk_licenses(account, count, expires_on, prefix="c", product_name="MS Office 365"):
    """`count` licenses of one account expiring on `expires_on`, inserted in bulk; returns their contacts."""
    contacts = [f"{prefix}{n}@bulk.example" for n in range(count)]
    with db.database.connection_context(), db.database.atomic():
        product = Product.get(Product.name == product_name)
        proof = proof_document(account)
        License.insert_many(
            [{"account": account.id, "product": product.id,
              "plan": f"Bulk {prefix}{n}", "plan_key": f"bulk {prefix}{n}"} for n in range(count)]
        ).execute()
        ids = [
            row.id for row in License.select(License.id)
            .where((License.account == account.id) & License.plan_key.startswith(f"bulk {prefix}"))
            .order_by(License.id)
        ]
        LicenseVersion.insert_many(
            [{"license": license_id, "seats": 5, "term": "Yearly", "expires_on": expires_on,
              "tenant": "bulk.onmicrosoft.com", "contact_name": f"Contact {n}", "contact_email": contacts[n],
              "proof": proof.id} for n, license_id in enumerate(ids)]
        ).execute()
        License.update(
            current=LicenseVersion.select(LicenseVersion.id).where(LicenseVersion.license == License.id)
        ).where(License.id.in_(ids)).execute()
    return contacts


# --- the real command, in processes of its own ------------------------------------------------


def cli_env(database_url, smtp_server, **extra):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=str(smtp_server.port),
        MAIL_TIMEOUT="10",
        MAIL_DEFAULT_SENDER="licenses@example-hosting.test",
        SECRET_KEY="reminder-subprocess-test-key-32-bytes",
        PORTAL_URL="http://portal.test",
        PORTAL_ENV="production",
        TOTP_ENCRYPTION_KEYS=PRODUCTION_TOTP_KEY,
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def flask_send_reminders(env, *args, **popen):
    return subprocess.Popen(
        [FLASK, "send-reminders", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )


def test_the_real_command_sends_reports_and_exits_non_zero_on_failure(
    app, database_url, smtp_server, account, add_license
):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=4), "pat@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=5), "nobody@northwind.example")
    smtp_server.refuse["nobody@northwind.example"] = "550 5.1.1 No such user here"

    process = flask_send_reminders(cli_env(database_url, smtp_server), "--today", TODAY.isoformat())
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    assert stdout.strip().splitlines()[-1] == "sent 1, failed 1, skipped 0"
    assert "nobody@northwind.example: recipient refused: 550 5.1.1 No such user here" in stderr
    [message] = smtp_server.to("pat@northwind.example")
    assert "http://portal.test/licenses" in message.get_body(("plain",)).get_content()

    smtp_server.refuse.clear()
    process = flask_send_reminders(cli_env(database_url, smtp_server), "--today", TODAY.isoformat())
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout.strip().splitlines()[-1]) == (0, "sent 1, failed 0, skipped 0"), stderr
    assert len(smtp_server.messages) == 2


def test_production_has_no_default_sender_so_the_command_exits_2(app, database_url, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=4), "pat@northwind.example")
    env = cli_env(database_url, smtp_server)
    del env["MAIL_DEFAULT_SENDER"]

    process = flask_send_reminders(env, "--today", TODAY.isoformat())
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 2, stderr
    assert "MAIL_DEFAULT_SENDER is not set" in stderr and "Traceback" not in stderr
    assert smtp_server.messages == [] and reminder_rows() == []


def test_development_has_a_demo_sender(database_url):
    from config import DEMO_SENDER, Config
    from webapp import create_app

    development = create_app(Config, PORTAL_ENV="development", DATABASE_URL=database_url, DATABASE_POOL=False,
                             SECRET_KEY="development-test-key", MAIL_DEFAULT_SENDER=None)
    assert development.config["MAIL_DEFAULT_SENDER"] == DEMO_SENDER


def test_on_a_terminal_the_command_shows_a_progress_bar(app, database_url, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=4), "pat@northwind.example")
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [FLASK, "send-reminders", "--today", TODAY.isoformat()], cwd=ROOT,
            env=cli_env(database_url, smtp_server, COLUMNS=100), stdout=follower, stderr=follower,
        )
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        os.close(leader)
    text = output.decode()
    assert process.returncode == 0, text
    assert "Reminders due 2026-03-10" in text and "100%" in text
    assert text.strip().splitlines()[-1].strip() == "sent 1, failed 0, skipped 0"


def test_two_runs_started_together_send_each_of_1000_reminders_once(app, database_url, smtp_server, make_account):
    contacts = []
    for n in range(4):
        contacts += bulk_licenses(make_account(f"Overlap {n}"), 250, TODAY + timedelta(days=1 + n * 7), prefix=f"o{n}-")
    assert len(set(contacts)) == 1000

    peers = set()

    async def wait_for_the_other_run(session, envelope):
        # Hold the first run's first message until the second run is connected too,
        # so the two really are sending at the same time.
        peers.add(session.peer)
        deadline = time.monotonic() + 20
        while len(peers) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    smtp_server.before_data = wait_for_the_other_run
    env = cli_env(database_url, smtp_server, REMINDER_BATCH_SIZE=25)
    runs = [flask_send_reminders(env, "--today", TODAY.isoformat()) for _ in range(2)]
    results = [run.communicate(timeout=180) for run in runs]

    for run, (stdout, stderr) in zip(runs, results):
        assert run.returncode == 0, stderr
    counts = [summary_of(stdout) for stdout, _ in results]
    assert sum(sent for sent, _, _ in counts) == 1000
    assert all(sent > 0 for sent, _, _ in counts), counts
    assert all(failed == 0 for _, failed, _ in counts)
    delivered = [recipients[0] for recipients, _ in smtp_server.messages]
    assert len(delivered) == 1000
    assert sorted(delivered) == sorted(contacts)
    rows = reminder_rows()
    assert len(rows) == 1000 and {(r.status, r.attempts, r.claim_token) for r in rows} == {("sent", 1, None)}
    assert len(attempt_rows()) == 1000


def test_a_run_stopped_with_sigterm_records_what_it_sent(app, database_url, smtp_server, make_account):
    contacts = bulk_licenses(make_account("Stopped Ltd"), 8, TODAY + timedelta(days=3))
    process = None
    received = []

    async def stop_at_the_third(session, envelope):
        received.append(envelope.rcpt_tos[0])
        if len(received) == 3:
            process.send_signal(15)
            return "451 4.3.0 Stopping"

    smtp_server.before_data = stop_at_the_third
    process = flask_send_reminders(cli_env(database_url, smtp_server), "--today", TODAY.isoformat())
    process.communicate(timeout=60)
    assert process.returncode != 0

    assert len(smtp_server.messages) == 2
    # The two accepted are recorded sent; the third was refused or cut short, the rest never tried.
    assert sorted(r.status == "sent" for r in reminder_rows()) == [False] * 6 + [True] * 2
    assert all(r.claim_token is None for r in reminder_rows())

    smtp_server.before_data = None
    process = flask_send_reminders(cli_env(database_url, smtp_server), "--today", TODAY.isoformat())
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, summary_of(stdout)) == (0, (6, 0, 0)), stderr
    assert sorted(recipients[0] for recipients, _ in smtp_server.messages) == sorted(contacts)


def test_a_run_killed_before_recording_is_sent_again_after_the_lease_at_least_once(
    app, database_url, smtp_server, make_account, runner
):
    smtp_server.configure(app)
    contacts = bulk_licenses(make_account("Crashed Ltd"), 6, TODAY + timedelta(days=3))
    process = None

    async def kill_after_the_third(session, envelope):
        if len(smtp_server.messages) == 3:
            process.kill()  # SIGKILL: no chance to record anything
            return "451 4.3.0 Gone"

    smtp_server.before_data = kill_after_the_third
    process = flask_send_reminders(cli_env(database_url, smtp_server), "--today", TODAY.isoformat())
    process.communicate(timeout=60)
    assert process.returncode == -9
    assert len(smtp_server.messages) == 3
    assert {r.status for r in reminder_rows()} == {"pending"} and all(r.claim_token for r in reminder_rows())

    smtp_server.before_data = None
    # Within the lease the dead run's claims are respected: nothing is sent twice yet.
    assert send(runner, TODAY)[:3:2] == (0, (0, 0, 6))
    # The lease runs out: the run's clock (the CLOCK setting) is moved past it instead of waiting.
    lease = timedelta(seconds=app.config["REMINDER_CLAIM_LEASE"] + 1)
    app.config["CLOCK"] = lambda: utcnow() + lease
    assert send(runner, TODAY)[:3:2] == (0, (6, 0, 0))

    counts = {c: len(smtp_server.to(c)) for c in contacts}
    assert sorted(counts.values()) == [1, 1, 1, 2, 2, 2]  # the three accepted before the crash came twice
    assert {r.status for r in reminder_rows()} == {"sent"}


@pytest.mark.parametrize("attempts, current, account_fields, on, expected", [
    (0, date(2026, 4, 1), {}, date(2026, 3, 20), "queued for the next run"),
    (1, date(2026, 4, 1), {}, date(2026, 3, 20), "will be retried on the next run (attempt 2 of 5)"),
    (5, date(2026, 4, 1), {}, date(2026, 3, 20), "gave up after 5 attempts"),
    (1, date(2026, 4, 1), {}, date(2026, 4, 2), "never delivered: the license has expired"),
    (1, date(2027, 4, 1), {}, date(2026, 3, 20), "no longer needed: the license was updated with a new date"),
    (1, date(2026, 4, 1), {"status": "suspended"}, date(2026, 3, 20),
     "on hold while the account is suspended or not enrolled in BYOL"),
])
def test_staff_read_where_an_undelivered_reminder_stands(app, attempts, current, account_fields, on, expected):
    reminder = Reminder(expires_on=date(2026, 4, 1), attempts=attempts, status="failed")
    with app.app_context():
        assert reminder_state(reminder, current, Account(**account_fields), on) == expected


def test_an_address_the_mail_setup_cannot_send_fails_alone(mail_app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E1", TODAY + timedelta(days=3), "jürgen@northwind.example")
    add_license(account, "Office 365 E3", TODAY + timedelta(days=4), "pat@northwind.example")

    code, output, counts = send(runner, TODAY)

    assert (code, counts) == (1, (1, 1, 0))
    assert len(smtp_server.to("pat@northwind.example")) == 1
    failed = [r for r in reminder_rows() if r.status == "failed"]
    assert [r.recipient for r in failed] == ["jürgen@northwind.example"]
    assert "non-ASCII" in failed[0].last_error
