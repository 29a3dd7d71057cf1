"""Staff TOTP secrets are encrypted at rest (Fernet, TOTP_ENCRYPTION_KEYS): the column holds no usable
secret, a key is rotated with `flask rotate-totp-key`, production refuses to start without a key."""
import pyotp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from peewee import fn

from config import Config, ConfigError, TestConfig
from webapp import create_app
from webapp.accounts.models import User
from webapp.extensions import db
from webapp.identity import two_factor


def stored(user_id):
    """The column as the database holds it (no decryption)."""
    with db.database.connection_context():
        return User.select(fn.COALESCE(User.totp_secret, None).coerce(False)).where(User.id == user_id).scalar()


def test_an_enrolled_secret_is_stored_encrypted_and_still_checks_codes(app, admin):
    secret = pyotp.random_base32()
    with app.app_context(), db.database.connection_context():
        assert two_factor.enrol(admin.id, secret, pyotp.TOTP(secret).now())
    raw = stored(admin.id)
    assert secret not in raw and raw.startswith("gAAAAA")
    assert app.config["TOTP_ENCRYPTION"].decrypt(raw.encode()).decode() == secret
    with pytest.raises(InvalidToken):  # a copy of the database without the key opens nothing
        Fernet(Fernet.generate_key()).decrypt(raw.encode())
    with app.app_context(), db.database.connection_context():
        assert User.get_by_id(admin.id).totp_secret == secret


def test_rotate_totp_key_re_encrypts_under_the_new_key_so_the_old_can_go(database_url, app, admin):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = create_app(TestConfig, DATABASE_URL=database_url, TOTP_ENCRYPTION_KEYS=old)
    secret = pyotp.random_base32()
    with before.app_context(), db.database.connection_context():
        User.update(totp_secret=secret).where(User.id == admin.id).execute()
    sealed_with_old = stored(admin.id)

    both = create_app(TestConfig, DATABASE_URL=database_url, TOTP_ENCRYPTION_KEYS=f"{new}, {old}")
    result = both.test_cli_runner().invoke(args=["rotate-totp-key"])

    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 TOTP secret" in result.output
    assert stored(admin.id) != sealed_with_old
    only_new = create_app(TestConfig, DATABASE_URL=database_url, TOTP_ENCRYPTION_KEYS=new)
    with only_new.app_context(), db.database.connection_context():
        assert two_factor.verify_totp(admin.id, pyotp.TOTP(secret).now())


def test_a_secret_under_a_dropped_key_is_a_clear_error(database_url, app, admin):
    first = create_app(TestConfig, DATABASE_URL=database_url, TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    with first.app_context(), db.database.connection_context():
        User.update(totp_secret=pyotp.random_base32()).where(User.id == admin.id).execute()
    other = create_app(TestConfig, DATABASE_URL=database_url, TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    with other.app_context(), db.database.connection_context(), pytest.raises(RuntimeError, match="TOTP_ENCRYPTION_KEYS"):
        User.get_by_id(admin.id)


def test_production_needs_a_key_and_says_so_in_one_line(database_url):
    settings = {"DATABASE_URL": database_url, "DATABASE_POOL": False, "PORTAL_ENV": "production", "SECRET_KEY": "k" * 32}
    with pytest.raises(ConfigError) as missing:
        create_app(Config, **settings)
    assert "TOTP_ENCRYPTION_KEYS is not set" in str(missing.value) and "\n" not in str(missing.value)
    with pytest.raises(ConfigError, match="not a Fernet key"):
        create_app(Config, TOTP_ENCRYPTION_KEYS="not-a-key", **settings)
    assert create_app(Config, TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **settings)


def test_development_derives_its_key_from_the_secret_key(database_url):
    a = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, PORTAL_ENV="development", SECRET_KEY="a" * 32)
    b = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, PORTAL_ENV="development", SECRET_KEY="a" * 32)
    token = a.config["TOTP_ENCRYPTION"].encrypt(b"JBSWY3DPEHPK3PXP")
    assert b.config["TOTP_ENCRYPTION"].decrypt(token) == b"JBSWY3DPEHPK3PXP"
