"""The audit trail: each kind of change writes its entry, in the change's own transaction,
with who, the account, and only the values the change touched; nothing can edit or delete one.

Route-level through the test client on the real database; commands through the CLI runner; mail
to a real SMTP server (aiosmtpd) where a change sends one.
"""
import re
from datetime import timedelta

import pyotp
import pytest
from peewee import DatabaseError
from conftest import PASSWORD, count_queries
from helpers import AUDIT_TAMPERING

from config import TestConfig
from webapp import audit, create_app
from webapp.accounts import invitations
from webapp.accounts import store as account_store
from webapp.accounts.models import Account, User
from webapp.audit.models import AuditEntry
from webapp.cli.demo import demo_pdf
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.identity import links as tokens
from webapp.identity.models import AccessToken
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product
from webapp.licenses.proofs import Upload, store_upload
from webapp.review import store as review_store

NEW_PASSWORD = "a long new passphrase for the audit"


def entries(kind=None):
    with db.database.connection_context():
        query = AuditEntry.select().order_by(AuditEntry.id)
        if kind:
            query = query.where(AuditEntry.kind == kind)
        return list(query)


def only(kind):
    found = entries(kind)
    assert len(found) == 1, f"{len(found)} {kind} entries: {[(e.subject, e.after) for e in found]}"
    return found[0]


def before_and_after(entry):
    return audit.values(entry.before), audit.values(entry.after)


def add_license(account, plan="Office 365 E3", expires_on=None):
    with db.database.connection_context():
        return _add_license(account, plan, expires_on)


def _add_license(account, plan, expires_on=None):
    product = Product.get(Product.name == "MS Office 365")
    document = store_upload(Upload(demo_pdf(plan), "application/pdf", "proof.pdf"), account, None)
    terms = {"seats": 25, "term": "Yearly", "expires_on": expires_on or utcnow().date() + timedelta(days=200),
             "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat Doe",
             "contact_email": "pat@northwind.example"}
    return license_store.add_license(account, None, product, plan, terms, document)


@pytest.fixture
def staff(app, admin, login, smtp_server):
    smtp_server.configure(app)
    client = app.test_client()
    assert login(client, admin.email).headers["Location"] == "/admin/"
    return client


# --- licenses and proof ----------------------------------------------------------------------


def test_adding_a_license_records_the_license_and_its_proof(logged_in, user, account, license_form, pdf, today):
    assert logged_in.post("/licenses", data=license_form()).status_code == 302

    added = only("license.added")
    assert (added.account_id, added.actor_id, added.actor_label) == (account.id, user.id, user.email)
    assert added.subject == "Office 365 E3" and not added.internal
    before, after = before_and_after(added)
    assert before == {}
    assert after == {
        "product": "MS Office 365", "plan": "Office 365 E3", "seats": 25, "term": "Yearly",
        "expires_on": (today + timedelta(days=200)).isoformat(), "tenant": "northwind.onmicrosoft.com",
        "contact_name": "Pat Doe", "contact_email": "pat@northwind.example",
    }
    uploaded = only("proof.uploaded")
    assert (uploaded.account_id, uploaded.actor_id, uploaded.subject) == (account.id, user.id, "Office 365 E3")
    assert audit.values(uploaded.after) == {
        "file": "proof.pdf", "bytes": len(pdf), "expires_on": (today + timedelta(days=200)).isoformat()
    }


def test_an_update_records_only_the_fields_it_changed_and_the_new_proof(logged_in, user, account, license_form, today):
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    with db.database.connection_context():
        license_id = License.get().id
    new_date = today + timedelta(days=565)
    renewal = license_form(product=None, plan=None, seats="30", expires_on=new_date.isoformat())

    assert logged_in.post(f"/licenses/{license_id}/update", data=renewal).status_code == 302

    updated = only("license.updated")
    assert (updated.account_id, updated.actor_id, updated.subject) == (account.id, user.id, "Office 365 E3")
    assert before_and_after(updated) == (
        {"seats": 25, "expires_on": (today + timedelta(days=200)).isoformat()},
        {"seats": 30, "expires_on": new_date.isoformat()},
    )
    assert [audit.values(e.after)["expires_on"] for e in entries("proof.uploaded")] == [
        (today + timedelta(days=200)).isoformat(), new_date.isoformat()
    ]


def test_a_refused_license_form_records_nothing(logged_in, license_form):
    assert logged_in.post("/licenses", data=license_form(term="Monthly")).status_code == 422
    assert entries() == []


def test_a_review_from_the_queue_records_the_decision_and_reason(staff, admin, account, smtp_server):
    license = add_license(account)
    reason = "The document shows a monthly plan."

    response = staff.post(f"/admin/reviews/{license.current.id}", data={"decision": "rejected", "reason": reason})

    assert response.status_code == 302
    reviewed = only("proof.reviewed")
    assert (reviewed.account_id, reviewed.actor_id, reviewed.actor_label) == (account.id, admin.id, admin.email)
    assert reviewed.subject == "Office 365 E3"
    assert before_and_after(reviewed) == (
        {"review_status": "pending"}, {"review_status": "rejected", "review_reason": reason}
    )
    # A second click on a page left open changes nothing, and records nothing.
    staff.post(f"/admin/reviews/{license.current.id}", data={"decision": "accepted"})
    assert len(entries("proof.reviewed")) == 1


def test_an_acceptance_from_the_account_page_is_recorded_without_a_reason(staff, admin, account):
    license = add_license(account)
    assert staff.post(f"/admin/versions/{license.current.id}/review", data={"decision": "accepted"}).status_code == 302
    assert before_and_after(only("proof.reviewed")) == ({"review_status": "pending"}, {"review_status": "accepted"})


# --- accounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("start, path, data, kind, change", [
    ({}, "status", {"status": "suspended"}, "account.suspended", ({"status": "active"}, {"status": "suspended"})),
    ({"status": "suspended"}, "status", {"status": "active"}, "account.reactivated",
     ({"status": "suspended"}, {"status": "active"})),
    ({}, "enrollment", {"enrollment": "subscription"}, "account.byol_switched",
     ({"enrollment": "byol"}, {"enrollment": "subscription"})),
    ({"byol_enrolled": False}, "enrollment", {"enrollment": "byol"}, "account.byol_switched",
     ({"enrollment": "subscription"}, {"enrollment": "byol"})),
])
def test_staff_account_changes_are_recorded_once(staff, admin, make_account, start, path, data, kind, change):
    account = make_account("Fabrikam", **start)

    assert staff.post(f"/admin/accounts/{account.id}/{path}", data=data).status_code == 302
    assert staff.post(f"/admin/accounts/{account.id}/{path}", data=data).status_code == 302  # already so

    entry = only(kind)
    assert (entry.account_id, entry.actor_id, entry.subject) == (account.id, admin.id, "Fabrikam")
    assert before_and_after(entry) == change


def test_flask_create_account_is_recorded_as_the_command_line(app, runner):
    result = runner.invoke(args=["create-account", "Northwind Traders", "--billing-day", "15"])

    assert result.exit_code == 0, result.output
    entry = only("account.created")
    with db.database.connection_context():
        account = Account.get(Account.name == "Northwind Traders")
    assert (entry.account_id, entry.actor_id, entry.actor_label) == (account.id, None, "command line")
    assert audit.values(entry.after) == {"name": "Northwind Traders", "billing_day": 15, "status": "active",
                                         "enrollment": "byol"}


def test_a_refused_command_records_nothing(app, runner, account):
    assert runner.invoke(args=["create-account", account.name]).exit_code != 0
    assert entries() == []


# --- users -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start, path, data, kind, change", [
    ({"authorized": False}, "authorization", {"authorization": "authorized"}, "user.authorized",
     ({"is_authorized": False}, {"is_authorized": True})),
    ({}, "authorization", {"authorization": "unauthorized"}, "user.unauthorized",
     ({"is_authorized": True}, {"is_authorized": False})),
    ({}, "access", {"access": "deactivated"}, "user.deactivated", ({"deactivated": False}, {"deactivated": True})),
    ({"deactivated": True}, "access", {"access": "active"}, "user.reactivated",
     ({"deactivated": True}, {"deactivated": False})),
])
def test_staff_user_changes_are_recorded_once(staff, admin, account, make_user, start, path, data, kind, change):
    person = make_user("kim@northwind.example", account=account, authorized=start.get("authorized", True))
    if start.get("deactivated"):
        with db.database.connection_context():
            User.update(deactivated_at=utcnow()).where(User.id == person.id).execute()

    assert staff.post(f"/admin/users/{person.id}/{path}", data=data).status_code == 302
    assert staff.post(f"/admin/users/{person.id}/{path}", data=data).status_code == 302  # already so

    entry = only(kind)
    assert (entry.account_id, entry.actor_id, entry.subject) == (account.id, admin.id, "kim@northwind.example")
    assert before_and_after(entry) == change


def test_an_invitation_is_recorded_and_a_second_one_says_so(staff, admin, account, smtp_server):
    data = {"email": "new.person@northwind.example", "name": "New Person", "authorized": "y"}
    assert staff.post(f"/admin/accounts/{account.id}/invitations", data=data).status_code == 302
    assert staff.post(f"/admin/accounts/{account.id}/invitations", data=data).status_code == 302

    first, again = entries("user.invited")
    assert (first.account_id, first.actor_id, first.subject) == (account.id, admin.id, "new.person@northwind.example")
    assert audit.values(first.after) == {"email": "new.person@northwind.example", "name": "New Person",
                                         "is_authorized": True}
    assert audit.values(again.after) == {"invitation": "sent again"}
    # The token of the link is in the email only, never in the trail.
    for entry in (first, again):
        assert "token" not in entry.after.lower() and "password" not in entry.after.lower()


@pytest.mark.parametrize("admin_user", [False, True])
def test_flask_create_user_and_create_admin_are_recorded(app, runner, account, admin_user):
    if admin_user:
        args = ["create-admin", "boss@provider.example", "--password", PASSWORD]
    else:
        args = ["create-user", "boss@northwind.example", "--account", account.name, "--authorized",
                "--name", "Boss", "--password", PASSWORD]

    assert runner.invoke(args=args).exit_code == 0

    entry = only("user.created")
    assert entry.actor_label == "command line" and entry.actor_id is None
    assert entry.account_id == (None if admin_user else account.id)
    after = audit.values(entry.after)
    assert after["is_admin"] is admin_user and after["is_authorized"] is not admin_user
    assert "password" not in entry.after and "pbkdf2" not in entry.after and "scrypt" not in entry.after


# --- passwords and the second factor ----------------------------------------------------------


def test_change_password_is_recorded_without_the_password(logged_in, user, account):
    response = logged_in.post("/password/change", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})

    assert response.status_code == 302
    entry = only("user.password_changed")
    assert (entry.account_id, entry.actor_id, entry.subject) == (account.id, user.id, user.email)
    assert audit.values(entry.after) == {"password": "changed on Change password"}
    assert NEW_PASSWORD not in entry.after and "scrypt" not in entry.after


@pytest.mark.parametrize("purpose, words", [(AccessToken.RESET, "set from a password reset link"),
                                            (AccessToken.INVITE, "set from a invitation link")])
def test_set_password_from_a_link_is_recorded_as_the_user(app, client, user, account, purpose, words):
    with db.database.connection_context():
        token = tokens.issue(user.id, purpose, timedelta(hours=1), utcnow())

    assert client.get(f"/password/set/{token}").headers["Location"] == "/password/set"
    response = client.post("/password/set", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})

    assert response.status_code == 302
    entry = only("user.password_changed")
    assert (entry.account_id, entry.actor_id, entry.actor_label) == (account.id, user.id, user.email)
    assert audit.values(entry.after) == {"password": words}
    assert token not in entry.after


def test_flask_set_password_is_recorded_as_the_command_line(app, runner, user):
    assert runner.invoke(args=["set-password", user.email, "--password", NEW_PASSWORD]).exit_code == 0
    entry = only("user.password_changed")
    assert (entry.actor_label, entry.subject) == ("command line", user.email)
    assert audit.values(entry.after) == {"password": "set with flask set-password"}


def _secret_on(page):
    return re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")


def test_enrolling_and_replacing_recovery_codes_and_the_operators_reset_are_recorded(app, client, admin, login, runner):
    login(client, admin.email)
    secret = _secret_on(client.get("/two-factor").get_data(as_text=True))
    assert client.post("/two-factor", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert client.post("/two-factor/recovery-codes").status_code == 200
    assert runner.invoke(args=["reset-2fa", admin.email]).exit_code == 0

    enrolled, replaced, reset = entries("user.second_factor_changed")
    assert [e.actor_label for e in (enrolled, replaced, reset)] == [admin.email, admin.email, "command line"]
    assert all(e.subject == admin.email and e.account_id is None for e in (enrolled, replaced, reset))
    assert before_and_after(enrolled) == ({"authenticator": "none"},
                                          {"authenticator": "enrolled", "recovery_codes": "issued"})
    assert audit.values(replaced.after) == {"recovery_codes": "replaced"}
    assert before_and_after(reset) == ({"authenticator": "enrolled"},
                                       {"authenticator": "none", "recovery_codes": "cleared"})
    for entry in (enrolled, replaced, reset):
        assert secret not in entry.before + entry.after


# --- sign-ins --------------------------------------------------------------------------------


def test_a_failed_sign_in_of_a_customer_belongs_to_their_account(client, user, account):
    assert client.post("/login", data={"email": user.email, "password": "not the password"}).status_code == 401

    entry = only("signin.failed")
    assert (entry.account_id, entry.actor_id, entry.actor_label) == (account.id, None, "anonymous")
    assert entry.subject == user.email and not entry.internal
    assert audit.values(entry.after) == {"step": "password"}


def test_a_failed_sign_in_of_an_unknown_email_keeps_the_tried_text_cleaned_and_short(client, account):
    tried = "=HYPERLINK(\"http://evil.example\")<script>" + "x" * 200 + "@example.com"

    assert client.post("/login", data={"email": tried, "password": "whatever it is"}).status_code == 401

    entry = only("signin.failed")
    assert entry.account_id is None
    assert entry.subject.startswith('unknown email: =HYPERLINK("http://evil.example")<script>xxx')
    assert len(entry.subject) <= len("unknown email: ") + audit.OUTSIDE_TEXT_LENGTH
    assert entry.subject.endswith("…")


def test_a_wrong_current_password_on_change_password_is_a_failed_sign_in(logged_in, user, account):
    response = logged_in.post("/password/change", data={
        "current_password": "not it", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 422
    entry = only("signin.failed")
    assert (entry.account_id, entry.subject) == (account.id, user.email)
    assert audit.values(entry.after) == {"step": "current password on Change password"}


def test_a_wrong_authentication_code_is_a_failed_sign_in(app, client, admin, login):
    with db.database.connection_context():
        User.update(totp_secret=pyotp.random_base32()).where(User.id == admin.id).execute()
    login(client, admin.email)
    assert client.post("/login/code", data={"code": "12345"}).status_code == 401
    entry = only("signin.failed")
    assert (entry.account_id, entry.subject) == (None, admin.email)
    assert audit.values(entry.after) == {"step": "authentication code"}


@pytest.fixture
def strict_app(database_url, app):
    """The test app with a limit of three failed logins per email."""
    return create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False,
                      LOGIN_MAX_FAILURES_PER_EMAIL=3, LOGIN_MAX_FAILURES_PER_ADDRESS=50)


def test_a_throttled_sign_in_is_recorded_once_per_window_and_is_staff_internal(strict_app, user, account):
    client = strict_app.test_client()
    for _ in range(3):
        assert client.post("/login", data={"email": user.email, "password": "wrong"}).status_code == 401
    for _ in range(4):
        assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 429

    entry = only("signin.throttled")
    assert entry.internal
    assert (entry.account_id, entry.subject) == (account.id, user.email)
    assert audit.values(entry.after) == {"step": "password", "address": "127.0.0.1", "paused_minutes": 15}
    assert len(entries("signin.failed")) == 3


def test_a_throttled_unknown_email_is_recorded_without_an_account(strict_app):
    client = strict_app.test_client()
    for _ in range(5):
        client.post("/login", data={"email": "nobody@nowhere.example", "password": "wrong"})
    entry = only("signin.throttled")
    assert entry.account_id is None and entry.subject == "unknown email: nobody@nowhere.example"


def test_wrong_authentication_codes_past_the_limit_are_one_throttled_entry(strict_app, admin, login):
    with db.database.connection_context():
        User.update(totp_secret=pyotp.random_base32()).where(User.id == admin.id).execute()
    client = strict_app.test_client()
    login(client, admin.email)
    for _ in range(3):
        assert client.post("/login/code", data={"code": "12345"}).status_code == 401
    for _ in range(3):
        assert client.post("/login/code", data={"code": "12345"}).status_code == 429

    entry = only("signin.throttled")
    assert entry.internal and (entry.account_id, entry.subject) == (None, admin.email)
    assert audit.values(entry.after)["step"] == "authentication code"
    assert len(entries("signin.failed")) == 3


# --- API tokens and the reminder run ----------------------------------------------------------


def test_api_tokens_created_and_revoked_are_recorded_without_the_token(app, runner):
    created = runner.invoke(args=["create-api-token", "invoicing"])
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    assert runner.invoke(args=["revoke-api-token", "invoicing"]).exit_code == 0
    assert runner.invoke(args=["revoke-api-token", "invoicing"]).exit_code != 0  # none left: nothing recorded

    made, revoked = only("api_token.created"), only("api_token.revoked")
    assert (made.subject, made.actor_label, made.account_id) == ("invoicing", "command line", None)
    assert revoked.subject == "invoicing" and revoked.actor_label == "command line"
    for entry in (made, revoked):
        assert token not in entry.before + entry.after + entry.subject


def test_each_send_reminders_run_is_recorded_by_cron_with_its_summary(app, runner, account, smtp_server, today):
    smtp_server.configure(app)
    add_license(account, expires_on=today + timedelta(days=20))
    add_license(account, plan="Office 365 E1", expires_on=today + timedelta(days=10))
    smtp_server.refuse["pat@northwind.example"] = "550 5.1.1 No such user here"

    result = runner.invoke(args=["send-reminders", "--today", today.isoformat()])

    assert result.exit_code == 1
    started, finished = entries("reminders.run")
    assert started.actor_label == finished.actor_label == "cron"
    assert started.subject == f"started, as of {today.isoformat()}"
    assert finished.subject == f"finished, as of {today.isoformat()}"
    after = audit.values(finished.after)
    assert {key: after[key] for key in ("sent", "failed", "skipped", "exit_status")} == {
        "sent": 0, "failed": 2, "skipped": 0, "exit_status": 1}
    assert after["run_date"] == today.isoformat() and after["started_at"]


def test_a_dry_run_records_nothing(app, runner, account, today):
    add_license(account, expires_on=today + timedelta(days=20))
    before = len(entries())
    assert runner.invoke(args=["send-reminders", "--dry-run"]).exit_code == 0
    assert len(entries()) == before


# --- one transaction with the change; nothing edits or deletes ----------------------------------


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("change", ["suspend", "review", "add license", "invite"])
def test_a_change_that_rolls_back_leaves_no_entry(app, account, user, change):
    license = add_license(account) if change == "review" else None
    kept = len(entries())
    with db.database.connection_context():
        with pytest.raises(Interrupted):
            with db.database.atomic():
                if change == "suspend":
                    assert account_store.set_account_status(account.id, Account.SUSPENDED)
                elif change == "review":
                    assert review_store.review_version(license.current.id, LicenseVersion.REJECTED, "Blurry")
                elif change == "add license":
                    _add_license(account, "Office 365 E5")
                else:
                    invitations.invite_user(account.id, "kim@northwind.example", "Kim", True,
                                              timedelta(days=7), utcnow())
                assert AuditEntry.select().count() > kept  # the entry was written, inside the transaction
                raise Interrupted()
        assert Account.get_by_id(account.id).status == Account.ACTIVE
        assert not User.select().where(User.email == "kim@northwind.example").exists()
        assert License.select().count() == (1 if license else 0)
    assert len(entries()) == kept


def test_no_route_accepts_put_patch_or_delete(app):
    """The routes that change anything are POST forms; none could replace or remove an entry."""
    offenders = [
        (rule.rule, sorted(rule.methods & {"PUT", "PATCH", "DELETE"}))
        for rule in app.url_map.iter_rules() if rule.methods & {"PUT", "PATCH", "DELETE"}
    ]
    assert offenders == []


def test_the_tampering_check_of_the_route_matrix_catches_an_update_and_a_delete(app, account):
    """The route matrix (whole_app/test_route_matrix.py) runs every route as every visitor and fails on
    these statements: prove it sees them."""
    with db.database.connection_context():
        entry = audit.record("account.suspended", account=account.id, subject="x")
        with count_queries() as statements:
            # Both are sent (and logged) before the database refuses them (migration 0024's triggers).
            for tampering in (AuditEntry.update(subject="changed").where(AuditEntry.id == entry.id),
                              AuditEntry.delete().where(AuditEntry.id == entry.id)):
                with pytest.raises(DatabaseError), db.database.atomic():
                    tampering.execute()
            AuditEntry.select().count()
    assert [bool(AUDIT_TAMPERING.search(sql)) for sql in statements] == [True, True, False]


def test_record_refuses_a_kind_it_does_not_know(app):
    with pytest.raises(ValueError):
        audit.record("license.deleted")
