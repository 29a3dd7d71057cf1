"""Password rules (NIST SP 800-63B): length 12 to 128, no common password, no composition rules."""
import pytest
from conftest import PASSWORD
from helpers import PRODUCTION_TOTP_KEY

from config import Config, ConfigError
from webapp import create_app
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.identity.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    common_passwords,
    hash_password,
    password_matches,
    password_problem,
)


def test_length_bounds():
    assert "at least 12" in password_problem("a" * 5 + "bcdefg")  # 11 characters
    assert password_problem("zebra violin") is None  # 12
    assert password_problem("k" * 60 + "ite" + "q" * (MAX_LENGTH - 63)) is None
    assert "at most 128" in password_problem("z" * (MAX_LENGTH + 1))
    assert MIN_LENGTH == 12


def test_no_composition_rules_letters_only_or_unicode_pass():
    assert password_problem("lowercase words only") is None
    assert password_problem("ünïcödé pässwörd ✓") is None


def test_common_passwords_are_refused_whatever_their_case():
    assert "often" in password_problem("qwerty123456")
    assert "often" in password_problem("QWERTY123456")
    assert "often" in password_problem("1q2w3e4r5t6y")


def test_the_bundled_list_is_thousands_of_lowercase_entries():
    entries = common_passwords()
    assert len(entries) > 10000
    assert "password" in entries and "123456" in entries


def test_the_email_address_is_not_a_password():
    assert "email" in password_problem("pat.doe.smith@northwind.example", "pat.doe.smith@northwind.example")
    assert "email" in password_problem("pat.doe.smith", "Pat.Doe.Smith@northwind.example")


def test_only_spaces_are_refused():
    assert "spaces" in password_problem(" " * 20)


# --- How passwords are stored ----------------------------------------------------------------


@pytest.mark.parametrize("portal_env", ["production", "development"])
def test_production_and_development_store_passwords_with_scrypt(database_url, portal_env):
    app = create_app(Config, PORTAL_ENV=portal_env, SECRET_KEY="k" * 64, DATABASE_URL=database_url,
                     DATABASE_POOL=False, TOTP_ENCRYPTION_KEYS=PRODUCTION_TOTP_KEY)
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    with app.app_context():
        stored = hash_password("zebra violin tuba")
    method, salt, digest = stored.split("$")
    assert method == "scrypt:32768:8:1"  # werkzeug's default cost: n=2**15, r=8, p=1
    assert len(salt) >= 16 and len(digest) == 128
    assert password_matches(stored, "zebra violin tuba") and not password_matches(stored, "zebra violin tubas")


def test_outside_an_app_passwords_are_stored_with_scrypt():
    assert hash_password("zebra violin tuba").startswith("scrypt:32768:8:1$")


def test_a_cheap_hash_outside_the_test_suite_is_refused(database_url):
    with pytest.raises(ConfigError, match="PASSWORD_HASH_METHOD"):
        create_app(Config, SECRET_KEY="k" * 64, DATABASE_URL=database_url, DATABASE_POOL=False,
                   PASSWORD_HASH_METHOD="pbkdf2:sha256:1")


def test_the_suite_hashes_cheaply_and_a_strong_hash_still_logs_in(app, client, make_user, login):
    """Hashes made under TestConfig are one PBKDF2 round; a user stored with scrypt still signs in."""
    user = make_user("pat@northwind.example")
    assert user.password_hash.startswith("pbkdf2:sha256:1$")
    with db.database.connection_context():
        User.update(password_hash=hash_password(PASSWORD)).where(User.id == user.id).execute()  # no app: scrypt
        assert User.get_by_id(user.id).password_hash.startswith("scrypt:")
    assert login(client, user.email).status_code == 302
