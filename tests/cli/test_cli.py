"""The operator's `flask` commands, through the CLI runner and as real processes."""
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from webapp.accounts.models import Account, User
from webapp.cli.demo import DEMO_ACCOUNT, DEMO_ADMIN, DEMO_UNAUTHORIZED_USER, DEMO_USER
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product
from webapp.licenses.rules import Status

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def in_db(query):
    """Run a query function inside a connection (the CLI runner leaves none open)."""
    with db.database.connection_context():
        return query()


# --- init-db ----------------------------------------------------------------------------------


def test_init_db_is_idempotent(runner):
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "Database ready." in result.output
    assert in_db(lambda: [p.name for p in Product.select()]) == ["MS Office 365"]


def test_init_db_keeps_existing_rows(runner, make_account):
    make_account("Northwind Traders")
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert in_db(lambda: Account.select().count()) == 1


# --- create-account ---------------------------------------------------------------------------


def test_create_account_is_active_and_enrolled(runner):
    result = runner.invoke(args=["create-account", "Northwind Traders"])
    assert result.exit_code == 0, result.output
    assert "Northwind Traders" in result.output
    account = in_db(lambda: Account.get(Account.name == "Northwind Traders"))
    assert account.status == Account.ACTIVE
    assert account.byol_enrolled is True
    assert account.billing_day == 1


@pytest.mark.parametrize("day", [1, 15, 28, 31])
def test_create_account_with_a_billing_day(runner, day):
    result = runner.invoke(args=["create-account", "Northwind Traders", "--billing-day", str(day)])
    assert result.exit_code == 0, result.output
    assert in_db(lambda: Account.get(Account.name == "Northwind Traders").billing_day) == day


@pytest.mark.parametrize("day", ["0", "32", "-1", "first"])
def test_create_account_refuses_a_billing_day_outside_1_to_31(runner, day):
    result = runner.invoke(args=["create-account", "Northwind Traders", "--billing-day", day])
    assert result.exit_code != 0
    assert "--billing-day" in result.output
    assert in_db(lambda: Account.select().count()) == 0


def test_create_account_refuses_a_duplicate_name(runner):
    assert runner.invoke(args=["create-account", "Northwind Traders"]).exit_code == 0
    result = runner.invoke(args=["create-account", "Northwind Traders", "--billing-day", "15"])
    assert result.exit_code != 0
    assert "An account named 'Northwind Traders' already exists." in result.output
    assert "Traceback" not in result.output
    assert in_db(lambda: [(a.name, a.billing_day) for a in Account.select()]) == [("Northwind Traders", 1)]


# --- create-user ------------------------------------------------------------------------------


def test_create_user_with_every_option(runner, account, client, login):
    result = runner.invoke(
        args=["create-user", "Pat.Doe@Northwind.Example", "--account", account.name, "--authorized",
              "--name", "Pat Doe", "--password", "s3cret-Pw!-long"]
    )
    assert result.exit_code == 0, result.output
    user = in_db(lambda: User.get(User.email == "pat.doe@northwind.example"))
    assert user.account_id == account.id
    assert user.is_authorized is True and user.is_admin is False
    assert user.name == "Pat Doe"
    assert "s3cret-Pw!-long" not in user.password_hash
    assert user.check_password("s3cret-Pw!-long") and not user.check_password("s3cret-pw!-long")
    # The user can log in with the mixed-case email they were created with.
    assert login(client, "PAT.DOE@northwind.example", "s3cret-Pw!-long").status_code == 302
    assert client.get("/licenses").status_code == 200


def test_create_user_is_not_authorized_by_default(runner, account):
    result = runner.invoke(args=["create-user", "sam@northwind.example", "--account", account.name,
                                 "--password", "pw-1234-plenty-long"])
    assert result.exit_code == 0, result.output
    assert in_db(lambda: User.get(User.email == "sam@northwind.example").is_authorized) is False


def test_create_user_prompts_for_the_password_hidden(runner, account):
    result = runner.invoke(args=["create-user", "sam@northwind.example", "--account", account.name],
                           input="hidden-Pw-9-long\nhidden-Pw-9-long\n")
    assert result.exit_code == 0, result.output
    assert "hidden-Pw-9-long" not in result.output
    assert in_db(lambda: User.get(User.email == "sam@northwind.example").check_password("hidden-Pw-9-long"))


def test_create_user_needs_an_existing_account(runner):
    result = runner.invoke(args=["create-user", "pat@northwind.example", "--account", "No Such Co",
                                 "--password", "pw-1234-plenty-long"])
    assert result.exit_code != 0
    assert "No account named 'No Such Co'." in result.output
    assert in_db(lambda: User.select().count()) == 0


def test_create_user_requires_the_account_option(runner):
    result = runner.invoke(args=["create-user", "pat@northwind.example", "--password", "pw-1234-plenty-long"])
    assert result.exit_code != 0
    assert "--account" in result.output


def test_create_user_refuses_a_duplicate_email_in_any_case(runner, account):
    args = ["--account", account.name, "--password", "pw-1234-plenty-long"]
    assert runner.invoke(args=["create-user", "pat@northwind.example", *args]).exit_code == 0
    result = runner.invoke(args=["create-user", "PAT@Northwind.example", *args, "--authorized"])
    assert result.exit_code != 0
    assert "A user with the email pat@northwind.example already exists." in result.output
    assert "Traceback" not in result.output
    users = in_db(lambda: [(u.email, u.is_authorized) for u in User.select()])
    assert users == [("pat@northwind.example", False)]


# --- create-admin -----------------------------------------------------------------------------


def test_create_admin_with_a_password(runner, client, login):
    result = runner.invoke(args=["create-admin", "Staff@Provider.Example", "--password", "adm1n-Pw-long-enough"])
    assert result.exit_code == 0, result.output
    admin = in_db(lambda: User.get(User.email == "staff@provider.example"))
    assert admin.is_admin is True and admin.account_id is None
    assert admin.password_hash != "adm1n-Pw-long-enough" and admin.check_password("adm1n-Pw-long-enough")
    assert login(client, "staff@provider.example", "adm1n-Pw-long-enough").headers["Location"] == "/admin/"


def test_create_admin_prompts_for_the_password_hidden(runner):
    result = runner.invoke(args=["create-admin", "staff@provider.example"], input="staff pass phrase\nstaff pass phrase\n")
    assert result.exit_code == 0, result.output
    assert "Password for staff@provider.example" in result.output
    assert "Repeat for confirmation" in result.output
    assert "staff pass phrase" not in result.output  # typed characters are not echoed
    assert in_db(lambda: User.get(User.email == "staff@provider.example").check_password("staff pass phrase"))


def test_create_admin_asks_again_when_the_passwords_differ(runner):
    result = runner.invoke(args=["create-admin", "staff@provider.example"], input="staff pass phrase\nstaff pass phrasf\nstaff pass phrase 2\nstaff pass phrase 2\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert in_db(lambda: User.get(User.email == "staff@provider.example").check_password("staff pass phrase 2"))


def test_create_admin_refuses_a_duplicate_email(runner, admin):
    result = runner.invoke(args=["create-admin", admin.email, "--password", "other-pw-long-enough"])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert in_db(lambda: User.get(User.email == admin.email).check_password("other-pw-long-enough")) is False


# --- seed-demo --------------------------------------------------------------------------------


def _printed_logins(output):
    """{email: password} from seed-demo's output."""
    return dict(re.findall(r"(\S+@\S+)\s+password: (\S+)", output))


def _demo_standing(today):
    with db.database.connection_context():
        account = Account.get(Account.name == DEMO_ACCOUNT)
        rows, byol = license_store.account_standing(
            account, license_store.licenses_of(account.id), today, timezone_name="UTC"
        )
        return account, [status for _, status in rows], byol


def test_seed_demo_prints_logins_and_covers_every_status(runner, client, login, today):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_ACCOUNT in result.output
    logins = _printed_logins(result.output)
    assert set(logins) == {DEMO_USER, DEMO_UNAUTHORIZED_USER, DEMO_ADMIN}

    account, statuses, byol = _demo_standing(today)
    assert account.is_active and account.byol_enrolled
    assert set(statuses) == set(Status)
    assert not byol.valid  # an expired and a rejected plan lapse BYOL for the whole account

    assert login(client, DEMO_USER, logins[DEMO_USER]).status_code == 302
    page = client.get("/licenses").get_data(as_text=True)
    for status in Status:
        assert status.value in page


def test_seed_demo_twice_keeps_one_set_of_licenses_and_new_passwords_work(runner, app, login, today):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    licenses = in_db(lambda: sorted(License.select(License.id, License.plan).tuples()))
    versions = in_db(lambda: LicenseVersion.select().count())

    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert in_db(lambda: sorted(License.select(License.id, License.plan).tuples())) == licenses
    assert in_db(lambda: LicenseVersion.select().count()) == versions
    assert in_db(lambda: Account.select().where(Account.name == DEMO_ACCOUNT).count()) == 1
    assert in_db(lambda: User.select().count()) == 3

    logins = _printed_logins(second.output)
    for email, home in ((DEMO_USER, "/licenses"), (DEMO_ADMIN, "/admin/")):
        response = login(app.test_client(), email, logins[email])
        assert response.status_code == 302 and response.headers["Location"] == home, email
    assert login(app.test_client(), DEMO_USER, _printed_logins(first.output)[DEMO_USER]).status_code == 401


def test_seed_demo_unauthorized_user_is_refused(runner, client, login):
    logins = _printed_logins(runner.invoke(args=["seed-demo"]).output)
    assert login(client, DEMO_UNAUTHORIZED_USER, logins[DEMO_UNAUTHORIZED_USER]).status_code == 302
    assert client.get("/licenses").status_code == 403


# --- as real processes ------------------------------------------------------------------------


def _flask(args, **env):
    """Run `flask ARGS` in the project root with a clean environment plus `env`."""
    environment = {
        k: v for k, v in os.environ.items()
        if not k.startswith("FLASK_") and k not in {"PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL"}
    }
    environment.update(env)
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
    return subprocess.run(command + args, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True,
                          timeout=60)


def test_flask_init_db_finds_the_app_without_flask_app(tmp_path):
    database = tmp_path / "portal.sqlite3"
    # A deployment's settings: without PORTAL_ENV it is production, which needs its own TOTP key.
    keys = {"TOTP_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    result = _flask(["init-db"], DATABASE_URL=f"sqlite:///{database}", SECRET_KEY="a-test-key-" + "x" * 21, **keys)
    assert result.returncode == 0, result.stderr
    assert "Database ready." in result.stdout
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT name FROM product").fetchall() == [("MS Office 365",)]
    assert _flask(["init-db"], DATABASE_URL=f"sqlite:///{database}", SECRET_KEY="k" * 32, **keys).returncode == 0


def test_production_refuses_to_start_without_secret_key(tmp_path):
    database = tmp_path / "portal.sqlite3"
    result = _flask(["init-db"], DATABASE_URL=f"sqlite:///{database}")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr + result.stdout
    assert "Database ready." not in result.stdout


# --- password rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["create-user", "create-admin", "set-password"])
@pytest.mark.parametrize("password, says", [
    ("short-pw", "at least 12 characters"),
    ("x" * 129, "at most 128 characters"),
    ("qwerty123456", "passwords people use often"),
])
def test_every_command_that_sets_a_password_applies_the_rules(runner, account, user, command, password, says):
    args = {
        "create-user": ["create-user", "new@northwind.example", "--account", account.name],
        "create-admin": ["create-admin", "new@provider.example"],
        "set-password": ["set-password", user.email],
    }[command]
    result = runner.invoke(args=[*args, "--password", password])
    assert result.exit_code == 1
    assert says in result.output and "Traceback" not in result.output
    assert in_db(lambda: User.select().where(User.email.startswith("new@")).count()) == 0
    assert in_db(lambda: User.get_by_id(user.id).check_password(password)) is False


def test_a_prompted_password_that_breaks_the_rules_is_asked_again(runner):
    result = runner.invoke(args=["create-admin", "staff@provider.example"],
                           input="short\nshort\nlong enough phrase\nlong enough phrase\n")
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output
    assert in_db(lambda: User.get(User.email == "staff@provider.example").check_password("long enough phrase"))
