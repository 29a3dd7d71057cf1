"""Reminder history: the last reminder on each license row, every attempt for staff, and the
log of `send-reminders` runs on the admin dashboard, against a real SMTP server (aiosmtpd)."""
from datetime import date, datetime, timedelta

import pytest
from helpers import page_of, send

from webapp import audit, reminders
from webapp.audit.models import AuditEntry
from webapp.core.clock import utcnow
from webapp.extensions import db, mail
from webapp.reminders.models import ReminderAttempt, ReminderRunLog

HTMX = {"HX-Request": "true"}
TODAY = date(2026, 3, 10)


def text_of(element):
    return " ".join(element.get_text(" ").split()) if element is not None else ""


def last_reminder_cell(response, license):
    return text_of(page_of(response).find(id=f"license-{license.id}").find("td", class_="last-reminder"))


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    assert login(client, admin.email).headers["Location"] == "/admin/"
    return client


def run_logs():
    with db.database.connection_context():
        return list(ReminderRunLog.select().order_by(ReminderRunLog.id))


# --- the customer's tab ---------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "fragment"])
def test_each_row_says_when_its_last_reminder_went_out_and_to_whom(
    mail_app, runner, smtp_server, logged_in, account, add_license, headers
):
    due = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    later = add_license(account, "Office 365 E1", TODAY + timedelta(days=200), "bob@northwind.example")
    response = logged_in.get("/licenses", headers=headers)
    assert last_reminder_cell(response, due) == "None yet"

    before = utcnow().replace(microsecond=0)
    assert send(runner, TODAY)[0] == 0
    assert len(smtp_server.to("ada@northwind.example")) == 1
    response = logged_in.get("/licenses", headers=headers)
    cell = last_reminder_cell(response, due)
    assert cell.endswith("UTC to ada@northwind.example"), cell
    with db.database.connection_context():
        (attempt,) = ReminderAttempt.select().where(ReminderAttempt.license == due.id)
    assert attempt.attempted_at >= before
    stamp = page_of(response).find(id=f"license-{due.id}").find("td", class_="last-reminder").find("time")
    assert stamp["datetime"] == attempt.attempted_at.isoformat() + "Z"
    assert last_reminder_cell(response, later) == "None yet"


def test_a_refused_reminder_is_not_shown_as_gone_out(mail_app, runner, smtp_server, logged_in, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "gone@northwind.example")
    smtp_server.refuse["gone@northwind.example"] = "550 5.1.1 No such user here"
    assert send(runner, TODAY)[0] == 1
    assert last_reminder_cell(logged_in.get("/licenses"), license) == "None yet"
    smtp_server.refuse.clear()
    assert send(runner, TODAY)[0] == 0
    assert last_reminder_cell(logged_in.get("/licenses"), license).endswith("to gone@northwind.example")


def test_another_accounts_reminders_never_show(mail_app, runner, smtp_server, logged_in, account, make_account,
                                               add_license):
    other = make_account("Fabrikam")
    add_license(other, "Fabrikam Plan", TODAY + timedelta(days=20), "eve@fabrikam.example")
    mine = add_license(account, "Office 365 E3", TODAY + timedelta(days=200), "ada@northwind.example")
    assert send(runner, TODAY)[0] == 0
    assert len(smtp_server.to("eve@fabrikam.example")) == 1
    response = logged_in.get("/licenses")
    assert "eve@fabrikam.example" not in response.get_data(as_text=True)
    assert last_reminder_cell(response, mine) == "None yet"
    with db.database.connection_context():
        assert reminders.last_sent_reminders(account.id) == {}
        assert list(reminders.last_sent_reminders(other.id)) != []


def test_the_customer_history_page_does_not_list_attempts(mail_app, runner, smtp_server, logged_in, account,
                                                          add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    assert send(runner, TODAY)[0] == 0
    response = logged_in.get(f"/licenses/{license.id}")
    assert response.status_code == 200
    assert page_of(response).find(id="reminder-attempts") is None


# --- staff see every attempt ----------------------------------------------------------------


def test_staff_see_every_attempt_of_a_licenses_reminders(mail_app, runner, smtp_server, staff, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    response = staff.get(f"/admin/licenses/{license.id}")
    assert text_of(page_of(response).find(id="reminder-attempts").find("tbody")) == (
        "No reminder has been attempted for this license."
    )
    smtp_server.refuse["ada@northwind.example"] = "450 4.2.1 Mailbox busy, try again later"
    assert send(runner, TODAY)[0] == 1
    smtp_server.refuse.clear()
    assert send(runner, TODAY + timedelta(days=1))[0] == 0
    response = staff.get(f"/admin/licenses/{license.id}")
    assert response.status_code == 200
    rows = [text_of(tr) for tr in page_of(response).find(id="reminder-attempts").find("tbody").find_all("tr")]
    assert len(rows) == 2, rows
    expires = f"{(TODAY + timedelta(days=20)).day} {(TODAY + timedelta(days=20)):%b %Y}"
    assert f"{expires} ada@northwind.example sent" in rows[0]
    assert f"{expires} ada@northwind.example failed" in rows[1]
    assert "450 4.2.1 Mailbox busy" in rows[1]


def test_the_attempts_page_is_for_staff_only(mail_app, runner, smtp_server, logged_in, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    response = logged_in.get(f"/admin/licenses/{license.id}")
    assert response.status_code in (403, 404)


def test_staff_attempts_of_an_unknown_license_are_a_404(staff):
    assert staff.get("/admin/licenses/999999").status_code == 404


# --- the run log ----------------------------------------------------------------------------


def test_each_run_is_logged_with_its_counts_and_exit_status(mail_app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=10), "gone@northwind.example")
    smtp_server.refuse["gone@northwind.example"] = "550 5.1.1 No such user here"
    started = utcnow().replace(microsecond=0)
    assert send(runner, TODAY)[0] == 1
    smtp_server.refuse.clear()
    assert send(runner, TODAY + timedelta(days=1))[0] == 0
    first, second = run_logs()
    assert (first.run_date, first.sent, first.failed, first.skipped, first.exit_status) == (TODAY, 1, 1, 0, 1)
    assert (second.run_date, second.sent, second.failed, second.exit_status) == (TODAY + timedelta(days=1), 1, 0, 0)
    assert started <= first.started_at <= first.finished_at <= second.started_at <= second.finished_at


def test_a_run_that_dies_leaves_finished_empty(mail_app, runner, smtp_server, account, add_license, monkeypatch):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")

    def killed(self, progress=None, on_failure=None):
        raise SystemExit(143)  # what SIGTERM becomes inside the command

    monkeypatch.setattr(reminders.ReminderRun, "send", killed)
    result = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])
    assert result.exit_code == 143
    (log,) = run_logs()
    assert log.started_at is not None and log.finished_at is None and log.exit_status is None


def test_a_misconfigured_run_sends_nothing_and_logs_no_run(app, runner, account, add_license):
    app.config["MAIL_SUPPRESS_SEND"] = True
    mail.init_app(app)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=7), "pat@northwind.example")
    result = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])
    assert result.exit_code == 2
    # No run log (the dashboard still warns that no run finishes), but an audit entry, as exit 1 writes.
    assert run_logs() == []
    with db.database.connection_context():
        (entry,) = AuditEntry.select().where(AuditEntry.kind == "reminders.run")
    assert entry.actor_label == "cron" and entry.actor_id is None and entry.account_id is None
    assert entry.subject == f"refused, as of {TODAY.isoformat()}: the mail settings cannot work"
    after = audit.values(entry.after)
    assert after["exit_status"] == 2 and after["run_date"] == TODAY.isoformat()
    assert "MAIL_SUPPRESS_SEND" in after["error"]


def test_a_run_without_a_sender_is_audited_with_exit_2(mail_app, runner, smtp_server, account, add_license):
    mail_app.config["MAIL_DEFAULT_SENDER"] = None
    mail.init_app(mail_app)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=7), "pat@northwind.example")
    result = runner.invoke(args=["send-reminders", "--today", TODAY.isoformat()])
    assert result.exit_code == 2
    with db.database.connection_context():
        (entry,) = AuditEntry.select().where(AuditEntry.kind == "reminders.run")
    assert audit.values(entry.after)["exit_status"] == 2
    assert "MAIL_DEFAULT_SENDER is not set" in audit.values(entry.after)["error"]


# --- the admin dashboard --------------------------------------------------------------------


def reminder_runs_box(response):
    return page_of(response).find(id="reminder-runs")


def test_the_dashboard_shows_the_last_run(mail_app, runner, smtp_server, staff, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "ada@northwind.example")
    add_license(account, "Office 365 E1", TODAY + timedelta(days=10), "gone@northwind.example")
    smtp_server.refuse["gone@northwind.example"] = "550 5.1.1 No such user here"
    assert send(runner, TODAY)[0] == 1
    box = reminder_runs_box(staff.get("/admin/"))
    text = text_of(box)
    assert "Sent / failed / skipped 1 / 1 / 0" in text
    assert "Exit status 1 (a send failed; cron reports it)" in text
    assert box.find(class_="warning") is None
    (log,) = run_logs()
    assert f"{log.started_at:%H:%M} UTC" in text and f"{log.finished_at:%H:%M} UTC" in text


def test_the_dashboard_says_a_run_did_not_finish(app, staff):
    with db.database.connection_context():
        ReminderRunLog.create(run_date=TODAY, started_at=utcnow() - timedelta(hours=1))
    text = text_of(reminder_runs_box(staff.get("/admin/")))
    assert "not finished: still running, or it died" in text
    assert "No flask send-reminders run has finished in the last 48 hours (none ever has)" in text


def test_the_dashboard_warns_when_no_run_has_ever_happened(app, staff):
    box = reminder_runs_box(staff.get("/admin/"))
    assert "No run has been recorded yet." in text_of(box)
    assert "has finished in the last 48 hours" in text_of(box.find(class_="warning"))


@pytest.mark.parametrize("hours_ago, stale_hours, warned", [(47, 48, False), (49, 48, True), (49, 72, False)])
def test_the_dashboard_warns_when_the_last_finished_run_is_old(app, staff, hours_ago, stale_hours, warned):
    app.config["REMINDER_RUN_STALE_HOURS"] = stale_hours
    finished = utcnow() - timedelta(hours=hours_ago)
    with db.database.connection_context():
        ReminderRunLog.create(run_date=TODAY, started_at=finished - timedelta(minutes=1), finished_at=finished,
                              exit_status=0)
    box = reminder_runs_box(staff.get("/admin/"))
    warning = box.find(class_="warning")
    if warned:
        assert f"No flask send-reminders run has finished in the last {stale_hours} hours" in text_of(warning)
    else:
        assert warning is None


def test_the_dashboard_is_for_staff_only(logged_in):
    response = logged_in.get("/admin/")
    assert response.status_code in (302, 403, 404)
    assert b"reminder-runs" not in response.data


def test_stale_is_decided_from_the_last_finish():
    now = datetime(2026, 3, 10, 12, 0)
    assert reminders.runs_are_stale(None, now, 48)
    assert not reminders.runs_are_stale(now - timedelta(hours=48), now, 48)
    assert reminders.runs_are_stale(now - timedelta(hours=48, seconds=1), now, 48)
