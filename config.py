"""Configuration, read from the environment. See the README for every setting."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"
# A shorter key can be guessed offline from one signed cookie.
MIN_SECRET_KEY_BYTES = 32
# werkzeug's scrypt (n=2**15, r=8, p=1): tens of milliseconds and 32 MB per guess is the point.
STRONG_HASH_METHOD = "scrypt"
# The From address of `make run` and other development runs; production must set its own.
DEMO_SENDER = "licenses@example-hosting.test"


class ConfigError(RuntimeError):
    """A setting the portal cannot run with; `wsgi.py` prints it as one line and exits."""


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret_key():
    """A random key kept in instance/, so development sessions survive restarts."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


class Config:
    """Production settings; everything a deployment changes comes from the environment."""

    PORTAL_ENV = os.environ.get("PORTAL_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY")

    DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.sqlite3'}")
    # Keep database connections open between requests (peewee's pool); tests open their own.
    DATABASE_POOL = _env_bool("DATABASE_POOL", True)
    BUSINESS_TIMEZONE = os.environ.get("BUSINESS_TIMEZONE", "UTC")
    # An expiration date further ahead than this is refused as a typo (Office 365 plans renew yearly).
    LICENSE_MAX_YEARS_AHEAD = int(os.environ.get("LICENSE_MAX_YEARS_AHEAD", 5))
    # Requests per minute each billing API token may make; more get 429 with Retry-After.
    API_RATE_LIMIT = int(os.environ.get("API_RATE_LIMIT", 600))
    UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 10 * 1024 * 1024))
    # A valid upload of a form that failed is kept for the user's next try; these bound how many, how
    # large together (default: finalize() makes it 5 × UPLOAD_MAX_BYTES) and how long (purge-uploads).
    UPLOAD_ORPHAN_MAX_PER_ACCOUNT = int(os.environ.get("UPLOAD_ORPHAN_MAX_PER_ACCOUNT", 10))
    UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT = os.environ.get("UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT")
    UPLOAD_ORPHAN_MAX_AGE_HOURS = float(os.environ.get("UPLOAD_ORPHAN_MAX_AGE_HOURS", 24))
    # Reading a PDF proof's text at upload (webapp.pdf_text): the first pages only, at most this many
    # characters, in a child process killed after PROOF_TEXT_SECONDS or past its memory cap.
    PROOF_TEXT_MAX_PAGES = int(os.environ.get("PROOF_TEXT_MAX_PAGES", 10))
    PROOF_TEXT_MAX_CHARS = int(os.environ.get("PROOF_TEXT_MAX_CHARS", 100_000))
    PROOF_TEXT_SECONDS = float(os.environ.get("PROOF_TEXT_SECONDS", 2))
    PROOF_TEXT_MAX_MEMORY_MB = int(os.environ.get("PROOF_TEXT_MAX_MEMORY_MB", 512))
    PORTAL_URL = os.environ.get("PORTAL_URL", "http://127.0.0.1:5000")

    PROVIDER_NAME = os.environ.get("PROVIDER_NAME", "Your hosting provider")
    SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "support@example.com")

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 25))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL")
    # No default: a made-up From address would be refused or land in spam, and the reminders with it.
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER")
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", 30))
    REMINDER_BATCH_SIZE = int(os.environ.get("REMINDER_BATCH_SIZE", 200))
    REMINDER_MAX_ATTEMPTS = int(os.environ.get("REMINDER_MAX_ATTEMPTS", 5))
    # A run owns the reminders it claimed this long; older claims belong to a run that died.
    REMINDER_CLAIM_LEASE = int(os.environ.get("REMINDER_CLAIM_LEASE", 3600))
    # The admin dashboard warns when no send-reminders run has finished within this many hours.
    REMINDER_RUN_STALE_HOURS = float(os.environ.get("REMINDER_RUN_STALE_HOURS", 48))

    # Behind a TLS-terminating proxy: how many proxies in front of the app set X-Forwarded-For,
    # -Proto, -Host and -Port (werkzeug's ProxyFix). 0 trusts no such header.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", 0))
    # Strict-Transport-Security max-age, sent when cookies are secure (HTTPS only).
    HSTS_MAX_AGE = int(os.environ.get("HSTS_MAX_AGE", 365 * 24 * 3600))

    # A sign-in ends after this long without a request, and this long after it began, whatever happens.
    SESSION_IDLE_TIMEOUT_HOURS = float(os.environ.get("SESSION_IDLE_TIMEOUT_HOURS", 8))
    SESSION_LIFETIME_DAYS = float(os.environ.get("SESSION_LIFETIME_DAYS", 7))

    # Failed logins allowed per email and per client address in a window starting at the first one;
    # past either, tries get 429 until the window ends. Behind a proxy, set PROXY_COUNT, or every
    # client shares the proxy's address.
    LOGIN_MAX_FAILURES_PER_EMAIL = int(os.environ.get("LOGIN_MAX_FAILURES_PER_EMAIL", 5))
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 30))
    LOGIN_THROTTLE_WINDOW_MINUTES = float(os.environ.get("LOGIN_THROTTLE_WINDOW_MINUTES", 15))
    # Staff admins must enrol an authenticator app at their next sign-in before any admin page
    # (off by default only in development, i.e. `make run`'s demo). Wrong codes are throttled with
    # the two limits above, counted per admin and per address apart from logins.
    ADMIN_2FA_REQUIRED = _env_bool("ADMIN_2FA_REQUIRED", True)

    # Links to Set password: a reset link works once, for this long; so does an invitation's.
    PASSWORD_RESET_VALID_HOURS = float(os.environ.get("PASSWORD_RESET_VALID_HOURS", 1))
    INVITATION_VALID_DAYS = float(os.environ.get("INVITATION_VALID_DAYS", 7))
    # Reset requests (Send reset link) allowed per email and per client address in a window.
    RESET_MAX_PER_EMAIL = int(os.environ.get("RESET_MAX_PER_EMAIL", 3))
    RESET_MAX_PER_ADDRESS = int(os.environ.get("RESET_MAX_PER_ADDRESS", 20))
    RESET_THROTTLE_WINDOW_MINUTES = float(os.environ.get("RESET_THROTTLE_WINDOW_MINUTES", 60))

    # werkzeug's method string. Not read from the environment: production always hashes with scrypt,
    # and finalize() refuses anything else outside the test suite.
    PASSWORD_HASH_METHOD = STRONG_HASH_METHOD

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    # No "remember me": the portal never sets Flask-Login's remember cookie, and one sent anyway
    # goes through the same session lookup as the session cookie.
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    @classmethod
    def finalize(cls, config):
        """Fill in derived settings; refuse to run production without a strong key."""
        # Room for the other form fields around the file; a body past this is refused before parsing.
        config["MAX_CONTENT_LENGTH"] = config["UPLOAD_MAX_BYTES"] + 256 * 1024
        orphan_bytes = config.get("UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT")
        config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"] = (
            int(orphan_bytes) if orphan_bytes else 5 * config["UPLOAD_MAX_BYTES"]
        )
        config["SESSION_IDLE_TIMEOUT"] = timedelta(hours=config["SESSION_IDLE_TIMEOUT_HOURS"])
        config["SESSION_LIFETIME"] = timedelta(days=config["SESSION_LIFETIME_DAYS"])
        if config["SESSION_IDLE_TIMEOUT"] <= timedelta(0) or config["SESSION_LIFETIME"] <= timedelta(0):
            raise RuntimeError("SESSION_IDLE_TIMEOUT_HOURS and SESSION_LIFETIME_DAYS must be more than 0.")
        if min(config["LOGIN_MAX_FAILURES_PER_EMAIL"], config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
               config["LOGIN_THROTTLE_WINDOW_MINUTES"]) <= 0:
            raise RuntimeError("LOGIN_MAX_FAILURES_PER_EMAIL, LOGIN_MAX_FAILURES_PER_ADDRESS and "
                               "LOGIN_THROTTLE_WINDOW_MINUTES must be more than 0.")
        if min(config["PROOF_TEXT_MAX_PAGES"], config["PROOF_TEXT_MAX_CHARS"], config["PROOF_TEXT_SECONDS"],
               config["PROOF_TEXT_MAX_MEMORY_MB"]) <= 0:
            raise RuntimeError("PROOF_TEXT_MAX_PAGES, PROOF_TEXT_MAX_CHARS, PROOF_TEXT_SECONDS and "
                               "PROOF_TEXT_MAX_MEMORY_MB must be more than 0.")
        config["PASSWORD_RESET_VALID_FOR"] = timedelta(hours=config["PASSWORD_RESET_VALID_HOURS"])
        config["INVITATION_VALID_FOR"] = timedelta(days=config["INVITATION_VALID_DAYS"])
        if min(config["PASSWORD_RESET_VALID_HOURS"], config["INVITATION_VALID_DAYS"], config["RESET_MAX_PER_EMAIL"],
               config["RESET_MAX_PER_ADDRESS"], config["RESET_THROTTLE_WINDOW_MINUTES"]) <= 0:
            raise RuntimeError("PASSWORD_RESET_VALID_HOURS, INVITATION_VALID_DAYS, RESET_MAX_PER_EMAIL, "
                               "RESET_MAX_PER_ADDRESS and RESET_THROTTLE_WINDOW_MINUTES must be more than 0.")
        if not config.get("TESTING") and config["PASSWORD_HASH_METHOD"] != STRONG_HASH_METHOD:
            raise ConfigError(f"PASSWORD_HASH_METHOD must be {STRONG_HASH_METHOD!r}: a cheaper hash is for the test suite only.")
        if config["PORTAL_ENV"] == "development":
            config["SESSION_COOKIE_SECURE"] = _env_bool("SESSION_COOKIE_SECURE", False)
            config["ADMIN_2FA_REQUIRED"] = _env_bool("ADMIN_2FA_REQUIRED", False)
            if not config.get("SECRET_KEY"):
                config["SECRET_KEY"] = _development_secret_key()
            if not config.get("MAIL_DEFAULT_SENDER"):
                config["MAIL_DEFAULT_SENDER"] = DEMO_SENDER
        elif not config.get("SECRET_KEY"):
            raise ConfigError(
                "SECRET_KEY is not set. Set it in the environment (production), "
                "or set PORTAL_ENV=development to use a generated key."
            )
        elif len(_as_bytes(config["SECRET_KEY"])) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes. Generate one with: "
                "python3 -c 'import secrets; print(secrets.token_hex(32))'"
            )


def _as_bytes(key):
    return key if isinstance(key, bytes) else str(key).encode("utf-8")


class TestConfig(Config):
    """Settings for the test suite: a key of its own, no secure-only cookies over plain HTTP."""

    TESTING = True
    PORTAL_ENV = "test"
    SECRET_KEY = "test-secret-key-not-for-production"
    DATABASE_POOL = False
    SESSION_COOKIE_SECURE = False
    PORTAL_URL = "http://portal.test"
    PROVIDER_NAME = "Example Hosting"
    SUPPORT_EMAIL = "support@example-hosting.test"
    MAIL_DEFAULT_SENDER = DEMO_SENDER
    MAIL_SUPPRESS_SEND = False
    # Two cores shared by a busy suite: a child interpreter can take a second just to start. The
    # tests of hostile PDFs set the production limit themselves.
    PROOF_TEXT_SECONDS = 30
    # One PBKDF2 round instead of scrypt: the suite hashes hundreds of passwords, and the strength of
    # the hash is not what it tests (tests/test_passwords.py checks that production keeps scrypt).
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"
    # Most tests of staff pages sign in with a password alone; tests/test_two_factor.py turns it on.
    ADMIN_2FA_REQUIRED = False
