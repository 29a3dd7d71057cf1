"""The reminder schedule (REMINDER_DAYS), escalation to authorized users (REMINDER_ESCALATE_DAYS) and the
lapse notice, against a real SMTP server (aiosmtpd) with a moved clock (`send-reminders --today`)."""
import re
from datetime import date, timedelta

import pytest
from helpers import renew_license, send

from webapp.accounts.models import User
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.reminders.models import Reminder

TODAY = date(2026, 3, 10)
SCHEDULE = (60, 30, 14, 7, 1)


@pytest.fixture
def scheduled(mail_app):
    mail_app.config["REMINDER_STEPS"] = SCHEDULE
    return mail_app


def kinds_sent_to(smtp_server, email):
    """Each message to `email`, in order: the step's days ("60"...) from the body, or "lapse"."""
    kinds = []
    for message in smtp_server.to(email):
        if "expired on" in message["Subject"]:
            kinds.append("lapse")
        else:
            kinds.append(re.search(r"expires on (\d+ \w+ \d{4})", message["Subject"]).group(1))
    return kinds


def plain(part):
    """A text or HTML part as one line of words, tags left out."""
    return re.sub(r"\s+([,.])", r"\1", " ".join(re.sub(r"<[^>]+>", " ", part).split()))


def rows():
    with db.database.connection_context():
        return list(Reminder.select().order_by(Reminder.id))


def deactivate(user):
    with db.database.connection_context():
        User.update(deactivated_at=utcnow()).where(User.id == user.id).execute()


# --- the schedule ---------------------------------------------------------------------------


def test_a_license_seen_at_61_59_29_13_6_0_and_minus_1_days_gets_each_step_due_once(
    scheduled, runner, smtp_server, account, add_license
):
    expires_on = TODAY + timedelta(days=61)
    add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    sent = {}
    for left in (61, 59, 29, 13, 6, 0, -1):
        day = expires_on - timedelta(days=left)
        for _ in range(2):  # a second run the same day sends nothing
            code, output, counts = send(runner, day)
            assert code == 0 and counts[1:] == (0, 0), output
            sent.setdefault(left, []).append(counts[0])

    # Sent once per step; the second run of each day sends nothing. The lapse notice at -1 goes to the
    # contact and to the account's authorized user (pat@northwind.example).
    assert sent == {61: [0, 0], 59: [1, 0], 29: [1, 0], 13: [1, 0], 6: [1, 0], 0: [1, 0], -1: [2, 0]}
    assert sorted(r.kind for r in rows() if r.audience == 0) == sorted(
        ["expiry-60-days", "expiry-30-days", "expiry-14-days", "expiry-7-days", "expiry-1-days", "lapse-notice"])
    assert len(kinds_sent_to(smtp_server, "dana@northwind.example")) == 6
    assert kinds_sent_to(smtp_server, "pat@northwind.example") == ["lapse"]
    assert send(runner, expires_on + timedelta(days=5))[2] == (0, 0, 0)


def test_a_run_after_a_20_day_gap_sends_one_message_not_three(scheduled, runner, smtp_server, account, add_license):
    expires_on = TODAY + timedelta(days=21)
    add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    assert send(runner, TODAY)[2] == (1, 0, 0)  # the 30-day step

    # 20 days without a run: the 14-, 7- and 1-day steps have all come due; only the latest goes.
    assert send(runner, TODAY + timedelta(days=20))[2] == (1, 0, 0)
    assert send(runner, TODAY + timedelta(days=21))[2] == (0, 0, 0)
    assert len(smtp_server.to("dana@northwind.example")) == 2
    assert sorted(r.kind for r in rows()) == ["expiry-1-days", "expiry-30-days"]


def test_a_license_entered_late_gets_only_the_latest_step(scheduled, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=10), "dana@northwind.example")

    assert send(runner, TODAY)[2] == (1, 0, 0)
    assert [r.kind for r in rows()] == ["expiry-14-days"]


def test_the_default_schedule_is_the_single_30_day_reminder(mail_app, runner, smtp_server, account, add_license):
    assert mail_app.config["REMINDER_STEPS"] == (30,)
    expires_on = TODAY + timedelta(days=59)
    add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    for left in (59, 29, 13, 6, 0):
        send(runner, expires_on - timedelta(days=left))

    assert [r.kind for r in rows()] == ["expiry-30-days"]
    assert len(smtp_server.to("dana@northwind.example")) == 1


def test_a_renewal_mid_schedule_stops_the_old_steps_and_starts_over(
    scheduled, runner, smtp_server, account, add_license
):
    old = TODAY + timedelta(days=29)
    license = add_license(account, "Office 365 E3", old, "dana@northwind.example")
    assert send(runner, TODAY)[2] == (1, 0, 0)  # the 30-day step for the old date
    new = old + timedelta(days=365)
    renew_license(license, new)

    for day in (old - timedelta(days=13), old - timedelta(days=6), old, old + timedelta(days=1)):
        assert send(runner, day)[2] == (0, 0, 0), day  # no 14-, 7-, 1-day step, no lapse notice
    assert send(runner, new - timedelta(days=59))[2] == (1, 0, 0)  # the new date's 60-day step
    subjects = [m["Subject"] for m in smtp_server.to("dana@northwind.example")]
    assert len(subjects) == 2 and "expires on 8 Apr 2026" in subjects[0] and "2027" in subjects[1]


def test_an_update_with_the_same_date_does_not_repeat_a_step(scheduled, runner, smtp_server, account, add_license):
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=29), "dana@northwind.example")
    assert send(runner, TODAY)[2] == (1, 0, 0)
    renew_license(license, TODAY + timedelta(days=29), contact_email="new@northwind.example")

    assert send(runner, TODAY + timedelta(days=1))[2] == (0, 0, 0)
    assert send(runner, TODAY + timedelta(days=16))[2] == (1, 0, 0)  # the 14-day step, to the new contact
    assert len(smtp_server.to("new@northwind.example")) == 1


# --- escalation -----------------------------------------------------------------------------


def test_escalation_copies_each_active_authorized_user_once(
    scheduled, runner, smtp_server, account, make_account, make_user, add_license
):
    scheduled.config["REMINDER_ESCALATE_DAYS"] = 14
    make_user("ann@northwind.example", account=account, name="Ann Lee")
    make_user("viewer@northwind.example", account=account, authorized=False)
    deactivate(make_user("left@northwind.example", account=account))
    make_user("eve@fabrikam.example", account=make_account("Fabrikam"))
    make_user("staff@provider.example", admin=True)
    expires_on = TODAY + timedelta(days=30)
    # The contact is also an authorized user (pat@, the `user` fixture), written in capitals.
    add_license(account, "Office 365 E3", expires_on, "PAT@northwind.example", contact_name="Pat Doe")

    assert send(runner, TODAY)[2] == (1, 0, 0)  # 30 days: the contact only
    assert send(runner, expires_on - timedelta(days=14))[2] == (2, 0, 0)  # 14 days: contact and Ann
    assert send(runner, expires_on - timedelta(days=14))[2] == (0, 0, 0)
    assert send(runner, expires_on - timedelta(days=7))[2] == (2, 0, 0)

    recipients = sorted(r[0] for r, _ in smtp_server.messages)
    assert recipients == ["PAT@northwind.example"] * 3 + ["ann@northwind.example"] * 2
    [first, _] = smtp_server.to("ann@northwind.example")
    text = first.get_body(("plain",)).get_content()
    assert "Hello Ann Lee" in text and "an authorized user of Northwind Traders" in text
    assert "Pat Doe, PAT@northwind.example" in text
    assert first["To"] == "Ann Lee <ann@northwind.example>"


def test_escalation_is_off_by_default(scheduled, runner, smtp_server, account, make_user, add_license):
    make_user("ann@northwind.example", account=account)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=1), "dana@northwind.example")

    assert send(runner, TODAY)[2] == (1, 0, 0)
    assert smtp_server.to("ann@northwind.example") == []


def test_a_user_who_becomes_the_contact_gets_one_message(scheduled, runner, smtp_server, account, make_user,
                                                         add_license):
    scheduled.config["REMINDER_ESCALATE_DAYS"] = 30
    make_user("ann@northwind.example", account=account)
    license = add_license(account, "Office 365 E3", TODAY + timedelta(days=20), "dana@northwind.example")
    smtp_server.refuse["ann@northwind.example"] = "450 4.2.1 Busy"
    smtp_server.refuse["pat@northwind.example"] = "450 4.2.1 Busy"
    assert send(runner, TODAY)[2] == (1, 2, 0)
    smtp_server.refuse.clear()
    renew_license(license, TODAY + timedelta(days=20), contact_email="ann@northwind.example")

    # The contact's message went to Dana: Ann, now the contact, gets her own copy, once; Pat's is retried.
    assert send(runner, TODAY + timedelta(days=1))[2] == (2, 0, 0)
    assert send(runner, TODAY + timedelta(days=2))[2] == (0, 0, 0)
    assert len(smtp_server.to("ann@northwind.example")) == 1
    assert len(smtp_server.to("pat@northwind.example")) == 1


# --- the lapse notice -----------------------------------------------------------------------


def test_the_lapse_notice_goes_once_to_the_contact_and_the_authorized_users(
    mail_app, runner, smtp_server, make_account, make_user, add_license
):
    account = make_account("Contoso Pharma", billing_day=15)
    make_user("ann@contoso.example", account=account, name="Ann Lee")
    expires_on = date(2026, 3, 31)
    add_license(account, "Office 365 E3", expires_on, "dana@contoso.example", seats=25, contact_name="Dana")
    add_license(account, "Office 365 E1", expires_on + timedelta(days=200), "it@contoso.example", seats=15)

    assert send(runner, expires_on)[2] == (1, 0, 0)  # the 30-day reminder is still due on the day itself
    assert send(runner, expires_on + timedelta(days=3))[2] == (2, 0, 0)
    assert send(runner, expires_on + timedelta(days=4))[2] == (0, 0, 0)

    [notice] = [m for m in smtp_server.to("dana@contoso.example") if "expired" in m["Subject"]]
    assert notice["Subject"] == "Office 365 E3 expired on 31 Mar 2026: BYOL billing has lapsed"
    assert len(smtp_server.to("ann@contoso.example")) == 1
    for part in (notice.get_body(("plain",)).get_content(), notice.get_body(("html",)).get_content()):
        text = plain(part)
        assert "Office 365 E3" in text and "expired on 31 Mar 2026" in text
        assert "From the billing cycle that begins on 15 Apr 2026, all 40 BYOL users of Contoso Pharma move to" in text
        assert "Invoices already issued are not refunded" in text
        assert "New proof brings BYOL billing back on the next billing cycle after it is on file" in text
        assert "http://portal.test/licenses" in text


def test_no_lapse_notice_after_a_renewal(mail_app, runner, smtp_server, account, add_license):
    expires_on = TODAY + timedelta(days=5)
    renewed_late = add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    renewed_in_time = add_license(account, "Office 365 E1", expires_on, "kim@northwind.example")
    assert send(runner, TODAY)[2] == (2, 0, 0)
    renew_license(renewed_in_time, expires_on + timedelta(days=365))
    assert send(runner, expires_on + timedelta(days=1))[2] == (2, 0, 0)  # E3's notice: dana and pat
    renew_license(renewed_late, expires_on + timedelta(days=365))

    assert send(runner, expires_on + timedelta(days=2))[2] == (0, 0, 0)
    assert [m["Subject"] for m in smtp_server.to("kim@northwind.example")] == [
        "Office 365 E1 expires on 15 Mar 2026: please update your proof of licensing"]
    assert len(smtp_server.to("dana@northwind.example")) == 2


def test_new_proof_before_the_first_run_after_expiry_means_no_notice(mail_app, runner, smtp_server, account,
                                                                     add_license):
    expires_on = TODAY + timedelta(days=5)
    license = add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    renew_license(license, expires_on + timedelta(days=365))

    assert send(runner, expires_on + timedelta(days=1))[2] == (0, 0, 0)


def test_a_lapse_older_than_30_days_gets_no_notice(mail_app, runner, smtp_server, account, add_license):
    add_license(account, "Office 365 E3", TODAY + timedelta(days=5), "dana@northwind.example")
    assert send(runner, TODAY + timedelta(days=5 + 31))[2] == (0, 0, 0)
    assert send(runner, TODAY + timedelta(days=5 + 30))[2] == (2, 0, 0)


# --- the truth in every email ---------------------------------------------------------------


def test_a_reminder_says_byol_has_already_lapsed_because_of_other_plans_and_names_them(
    scheduled, runner, smtp_server, make_account, add_license
):
    account = make_account("Contoso Pharma", billing_day=1)
    add_license(account, "Office 365 E1", TODAY + timedelta(days=1), "a@contoso.example", seats=5)
    add_license(account, "Microsoft 365 Business Basic", TODAY + timedelta(days=3), "b@contoso.example", seats=7)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=40), "dana@contoso.example", seats=20)

    # 20 Mar: E1 and Business Basic have expired; E3 is at its 30-day step.
    day = TODAY + timedelta(days=10)
    assert send(runner, day)[0] == 0
    [reminder] = smtp_server.to("dana@contoso.example")
    for part in (reminder.get_body(("plain",)).get_content(), reminder.get_body(("html",)).get_content()):
        text = plain(part)
        assert "Your BYOL status has already lapsed" in text
        assert "From the billing cycle that begins on 1 Apr 2026, all 32 BYOL users of Contoso Pharma are" in text
        assert "Office 365 E1: expired on 11 Mar 2026" in text
        assert "Microsoft 365 Business Basic: expired on 13 Mar 2026" in text
        assert "Updating Office 365 E3 alone does not bring BYOL back" in text
        assert "If it is not updated by" not in text
    # The lapse notices of the two expired plans name each other.
    [notice] = smtp_server.to("a@contoso.example")[-1:]
    text = notice.get_body(("plain",)).get_content()
    assert "Microsoft 365 Business Basic: expired on 13 Mar 2026" in text
    assert "Updating Office 365 E1 alone does not bring BYOL back" in text


def test_a_reminder_after_the_cycle_changed_says_since(scheduled, runner, smtp_server, make_account, add_license):
    account = make_account("Contoso Pharma", billing_day=1)
    add_license(account, "Office 365 E1", date(2026, 3, 12), "a@contoso.example", seats=5)
    add_license(account, "Office 365 E3", date(2026, 5, 5), "dana@contoso.example", seats=20)

    assert send(runner, date(2026, 4, 5))[0] == 0  # E3's 30-day step, a cycle after E1 lapsed
    text = smtp_server.to("dana@contoso.example")[0].get_body(("plain",)).get_content()
    assert "Since the billing cycle that began on 1 Apr 2026, all 25 BYOL users" in text


# --- two runs at once, with the schedule and escalation on ------------------------------------


def test_two_concurrent_runs_with_the_schedule_on_send_no_duplicate(app, database_url, smtp_server, make_account,
                                                                     make_user):
    import asyncio
    import time
    from collections import Counter

    from reminders.test_send_reminders import bulk_licenses, cli_env, flask_send_reminders

    expected = Counter()
    for n, left in enumerate((59, 29, 13, 6, -1)):
        account = make_account(f"Overlap {n}")
        users = [make_user(f"u{k}@overlap{n}.example", account=account).email for k in range(3)]
        contacts = bulk_licenses(account, 30, TODAY + timedelta(days=left), prefix=f"s{n}-")
        escalated = left <= 14  # REMINDER_ESCALATE_DAYS=14 below, and the lapse notice always
        for contact in contacts:
            expected[contact] += 1
            for email in users if escalated else ():
                expected[email] += 1

    peers = set()

    async def wait_for_the_other_run(session, envelope):
        peers.add(session.peer)
        deadline = time.monotonic() + 20
        while len(peers) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    smtp_server.before_data = wait_for_the_other_run
    env = cli_env(database_url, smtp_server, REMINDER_BATCH_SIZE=25, REMINDER_DAYS="60,30,14,7,1",
                  REMINDER_ESCALATE_DAYS=14)
    runs = [flask_send_reminders(env, "--today", TODAY.isoformat()) for _ in range(2)]
    results = [run.communicate(timeout=180) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], [stderr for _, stderr in results]
    delivered = Counter(recipients[0] for recipients, _ in smtp_server.messages)
    assert sum(expected.values()) == 30 * 5 + 30 * 3 * 3
    assert delivered == expected
    assert len(peers) >= 2
    assert {(r.status, r.attempts, r.claim_token) for r in rows()} == {("sent", 1, None)}


# --- visible to the customer and to staff -----------------------------------------------------


def test_the_license_row_and_the_staff_license_page_show_every_step_sent(
    scheduled, runner, smtp_server, account, make_user, add_license, logged_in, staff
):
    from helpers import page_of

    scheduled.config["REMINDER_ESCALATE_DAYS"] = 7
    make_user("ann@northwind.example", account=account)
    expires_on = TODAY + timedelta(days=29)
    license = add_license(account, "Office 365 E3", expires_on, "dana@northwind.example")
    for day in (TODAY, expires_on - timedelta(days=13), expires_on - timedelta(days=6)):
        assert send(runner, day)[0] == 0

    cell = page_of(logged_in.get("/licenses")).find(id=f"license-{license.id}").find("td", class_="last-reminder")
    steps = [" ".join(p.get_text(" ").split()) for p in cell.find_all("p", class_="sent-step")]
    assert [step.split(":")[0].strip() for step in steps] == ["30-day reminder", "14-day reminder", "7-day reminder"]
    assert steps[0].endswith("UTC to dana@northwind.example")
    assert steps[2].endswith("UTC to dana@northwind.example, pat@northwind.example, ann@northwind.example")
    assert all(p.find("time") for p in cell.find_all("p", class_="sent-step"))

    page = page_of(staff.get(f"/admin/licenses/{license.id}"))
    attempts = [[" ".join(td.get_text(" ").split()) for td in tr.find_all("td")]
                for tr in page.find(id="reminder-attempts").find("tbody").find_all("tr")]
    assert [(row[1], row[3]) for row in attempts] == [
        ("7-day reminder", "ann@northwind.example"), ("7-day reminder", "pat@northwind.example"),
        ("7-day reminder", "dana@northwind.example"), ("14-day reminder", "dana@northwind.example"),
        ("30-day reminder", "dana@northwind.example")]


def test_the_staff_dashboard_shows_the_configured_schedule(scheduled, staff):
    from helpers import page_of

    scheduled.config["REMINDER_ESCALATE_DAYS"] = 14
    text = " ".join(page_of(staff.get("/admin/")).find(id="reminder-schedule").get_text(" ").split())
    assert "60, 30, 14, 7 and 1 days before expiration" in text
    assert "steps 14 days or fewer before expiration also go to every active authorized user" in text

    scheduled.config.update(REMINDER_STEPS=(30,), REMINDER_ESCALATE_DAYS=None)
    text = " ".join(page_of(staff.get("/admin/")).find(id="reminder-schedule").get_text(" ").split())
    assert "a reminder to the license's contact 30 days before expiration" in text
    assert "no copy to the authorized users" in text


def test_a_dry_run_lists_each_message_with_its_step_and_records_nothing(
    scheduled, runner, smtp_server, account, make_user, add_license
):
    scheduled.config["REMINDER_ESCALATE_DAYS"] = 14
    make_user("ann@northwind.example", account=account)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=10), "dana@northwind.example")
    add_license(account, "Office 365 E1", TODAY - timedelta(days=2), "kim@northwind.example")

    code, output, counts = send(runner, TODAY, "--dry-run")

    assert code == 0 and counts == (0, 0, 0)
    lines = sorted(line for line in output.splitlines() if line.startswith("would send"))
    assert lines == sorted([
        "would send: 2026-03-20  Northwind Traders · Office 365 E3  to dana@northwind.example  (14-day reminder)",
        "would send: 2026-03-20  Northwind Traders · Office 365 E3  to pat@northwind.example  (14-day reminder)",
        "would send: 2026-03-20  Northwind Traders · Office 365 E3  to ann@northwind.example  (14-day reminder)",
        "would send: 2026-03-08  Northwind Traders · Office 365 E1  to kim@northwind.example  (lapse notice)",
        "would send: 2026-03-08  Northwind Traders · Office 365 E1  to pat@northwind.example  (lapse notice)",
        "would send: 2026-03-08  Northwind Traders · Office 365 E1  to ann@northwind.example  (lapse notice)",
    ])
    assert "6 would be sent" in output
    assert rows() == [] and smtp_server.messages == []
    assert send(runner, TODAY)[2] == (6, 0, 0)


@pytest.mark.parametrize("kind, expires_on, on, expected", [
    ("expiry-60-days", date(2026, 4, 1), date(2026, 3, 20), "replaced by the 14-day reminder"),
    ("expiry-14-days", date(2026, 4, 1), date(2026, 3, 20), "will be retried on the next run (attempt 2 of 5)"),
    ("lapse-notice", date(2026, 3, 1), date(2026, 3, 20), "will be retried on the next run (attempt 2 of 5)"),
    ("lapse-notice", date(2026, 1, 1), date(2026, 3, 20), "never delivered: the lapse is too old for a notice"),
    ("expiry-1-days", date(2026, 3, 19), date(2026, 3, 20), "never delivered: the license has expired"),
])
def test_staff_read_where_a_step_stands(scheduled, kind, expires_on, on, expected):
    from webapp.accounts.models import Account
    from webapp.reminders import reminder_state

    reminder = Reminder(kind=kind, expires_on=expires_on, attempts=1, status="failed")
    with scheduled.app_context():
        assert reminder_state(reminder, expires_on, Account(), on) == expected


def test_a_plan_saved_anyway_and_not_yet_accepted_is_named_as_needing_proof(
    scheduled, runner, smtp_server, make_account, add_license
):
    from webapp.licenses.models import LicenseVersion

    account = make_account("Contoso Pharma", billing_day=1)
    unaccepted = add_license(account, "Office 365 E1", TODAY + timedelta(days=300), "a@contoso.example", seats=5)
    add_license(account, "Office 365 E3", TODAY + timedelta(days=29), "dana@contoso.example", seats=20)
    with db.database.connection_context():
        # Saved anyway against a document that says otherwise: it counts only once staff accept it.
        LicenseVersion.update(saved_anyway=True, submitted_at=utcnow() - timedelta(days=400)).where(
            LicenseVersion.license == unaccepted.id).execute()

    assert send(runner, TODAY)[0] == 0
    text = plain(smtp_server.to("dana@contoso.example")[0].get_body(("plain",)).get_content())
    assert "Your BYOL status has already lapsed" in text
    assert "Office 365 E1: proof not counted until staff accept it" in text
    assert "Updating Office 365 E3 alone does not bring BYOL back" in text
