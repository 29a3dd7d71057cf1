"""Configuration, read from the environment. See the README for every setting."""
import base64
import hashlib
import math
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"
# A shorter key can be guessed offline from one signed cookie.
MIN_SECRET_KEY_BYTES = 32
# werkzeug's scrypt (n=2**15, r=8, p=1): tens of milliseconds and 32 MB per guess is the point.
STRONG_HASH_METHOD = "scrypt"
# The From address of `make run` and other development runs; production must set its own.
DEMO_SENDER = "licenses@example-hosting.test"
# The provider `make run` and other development runs name, in pages, emails and commands alike.
DEMO_PROVIDER_NAME = "Example Hosting"
DEMO_SUPPORT_EMAIL = "support@example-hosting.test"


# The names a development run may be opened by, besides PORTAL_URL's.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class ConfigError(RuntimeError):
    """A setting the portal cannot run with; `wsgi.py` prints it as one line and exits."""


class BadSetting:
    """A setting from the environment that could not be read; create_app refuses to start with it.

    Kept as a value rather than raised while this module is imported: wsgi.py imports it before it
    can print the one-line `Configuration error: ...`.
    """

    def __init__(self, name, text, expected):
        self.name, self.text, self.expected = name, text, expected

    def error(self):
        return ConfigError(f"{self.name}={self.text!r} is not {self.expected}.")


TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _bool(name, default=False):
    """true/false, yes/no, on/off or 1/0; anything else is refused: a typo must not turn a protection off."""
    text = os.environ.get(name)
    if text is None:
        return default
    word = text.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    return BadSetting(name, text, "true or false")


def _int(name, default):
    text = os.environ.get(name)
    if text is None or (default is None and not text.strip()):
        return default
    try:
        return int(text.strip())
    except ValueError:
        return BadSetting(name, text, "a whole number")


def _float(name, default):
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        return BadSetting(name, text, "a number")
    return value if math.isfinite(value) else BadSetting(name, text, "a finite number")


def _development_secret_key():
    """A random key kept in instance/, so development sessions survive restarts."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# (settings, type, lowest, highest): what finalize() accepts. Durations stop at ten years, so that
# "now" minus any of them is still a date the databases can hold.
TEN_YEARS_HOURS = 10 * 366 * 24
POSITIVE = "more than 0"
LIMITS = (
    (("LICENSE_MAX_YEARS_AHEAD",), int, 1, 100),
    (("API_RATE_LIMIT", "UPLOAD_MAX_BYTES", "PROOF_TEXT_MAX_PAGES", "PROOF_TEXT_MAX_CHARS", "PROOF_TEXT_MAX_MEMORY_MB",
      "REMINDER_BATCH_SIZE", "REMINDER_MAX_ATTEMPTS", "LOGIN_MAX_FAILURES_PER_EMAIL", "LOGIN_MAX_FAILURES_PER_ADDRESS",
      "RESET_MAX_PER_EMAIL", "RESET_MAX_PER_ADDRESS", "CACHE_THRESHOLD"), int, POSITIVE, None),
    (("UPLOAD_ORPHAN_MAX_PER_ACCOUNT", "PROXY_COUNT", "HSTS_MAX_AGE"), int, 0, None),
    (("MAIL_PORT",), int, 1, 65535),
    (("REMINDER_CLAIM_LEASE",), int, POSITIVE, TEN_YEARS_HOURS * 3600),
    (("PROOF_TEXT_SECONDS", "MAIL_TIMEOUT"), float, POSITIVE, 3600),
    (("UPLOAD_ORPHAN_MAX_AGE_HOURS",), float, 0, TEN_YEARS_HOURS),
    (("M365_TIMEOUT",), float, POSITIVE, 600),
    (("M365_MAX_RETRIES",), int, 1, 20),
    (("M365_MAX_RETRY_AFTER",), float, POSITIVE, 3600),
    (("SESSION_IDLE_TIMEOUT_HOURS", "REMINDER_RUN_STALE_HOURS", "PASSWORD_RESET_VALID_HOURS"), float, POSITIVE,
     TEN_YEARS_HOURS),
    (("SESSION_LIFETIME_DAYS", "INVITATION_VALID_DAYS"), float, POSITIVE, TEN_YEARS_HOURS / 24),
    (("LOGIN_THROTTLE_WINDOW_MINUTES", "RESET_THROTTLE_WINDOW_MINUTES"), float, POSITIVE, TEN_YEARS_HOURS * 60),
)


class Config:
    """Production settings; everything a deployment changes comes from the environment."""

    PORTAL_ENV = os.environ.get("PORTAL_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY")

    DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.sqlite3'}")
    # Keep database connections open between requests (peewee's pool); tests open their own.
    DATABASE_POOL = _bool("DATABASE_POOL", True)
    BUSINESS_TIMEZONE = os.environ.get("BUSINESS_TIMEZONE", "UTC")
    # An expiration date further ahead than this is refused as a typo (Office 365 plans renew yearly).
    LICENSE_MAX_YEARS_AHEAD = _int("LICENSE_MAX_YEARS_AHEAD", 5)
    # Requests per minute each billing API token may make; more get 429 with Retry-After.
    API_RATE_LIMIT = _int("API_RATE_LIMIT", 600)
    UPLOAD_MAX_BYTES = _int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
    # A valid upload of a form that failed is kept for the user's next try; these bound how many, how
    # large together (default: finalize() makes it 5 × UPLOAD_MAX_BYTES) and how long (purge-uploads).
    UPLOAD_ORPHAN_MAX_PER_ACCOUNT = _int("UPLOAD_ORPHAN_MAX_PER_ACCOUNT", 10)
    UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT = _int("UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT", None)
    UPLOAD_ORPHAN_MAX_AGE_HOURS = _float("UPLOAD_ORPHAN_MAX_AGE_HOURS", 24)
    # Reading a PDF proof's text at upload (webapp.licenses.document_text): the first pages only, at most this many
    # characters, in a child process killed after PROOF_TEXT_SECONDS or past its memory cap.
    PROOF_TEXT_MAX_PAGES = _int("PROOF_TEXT_MAX_PAGES", 10)
    PROOF_TEXT_MAX_CHARS = _int("PROOF_TEXT_MAX_CHARS", 100_000)
    PROOF_TEXT_SECONDS = _float("PROOF_TEXT_SECONDS", 2)
    PROOF_TEXT_MAX_MEMORY_MB = _int("PROOF_TEXT_MAX_MEMORY_MB", 512)
    # Only proof staff accepted counts for BYOL (docs/domain.md, "Trust in proof"); by default proof
    # awaiting review counts too, unless saved anyway against a document that says otherwise.
    PROOF_MUST_BE_ACCEPTED = _bool("PROOF_MUST_BE_ACCEPTED", False)
    PORTAL_URL = os.environ.get("PORTAL_URL", "http://127.0.0.1:5000")

    # The provider's name and support address: read here only, used by the pages, every email and every
    # `flask` command. Unset, development runs name the demo's provider and production these neutral words.
    PROVIDER_NAME = os.environ.get("PROVIDER_NAME")
    SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL")

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    # No default: a made-up From address would be refused or land in spam, and the reminders with it.
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER")
    MAIL_TIMEOUT = _float("MAIL_TIMEOUT", 30)
    # Development only: emails are kept in this folder and read at /dev/mailbox instead of going over SMTP.
    # PORTAL_ENV=development sets it (DEV_MAILBOX=false sends over SMTP instead); production never has it.
    MAILBOX_DIR = None
    DEV_MAILBOX = _bool("DEV_MAILBOX", True)
    REMINDER_BATCH_SIZE = _int("REMINDER_BATCH_SIZE", 200)
    REMINDER_MAX_ATTEMPTS = _int("REMINDER_MAX_ATTEMPTS", 5)
    # A run owns the reminders it claimed this long; older claims belong to a run that died.
    REMINDER_CLAIM_LEASE = _int("REMINDER_CLAIM_LEASE", 3600)
    # The admin dashboard warns when no send-reminders run has finished within this many hours.
    REMINDER_RUN_STALE_HOURS = _float("REMINDER_RUN_STALE_HOURS", 48)
    # Days before expiration on which a reminder goes out (finalize() makes it REMINDER_STEPS).
    REMINDER_DAYS = os.environ.get("REMINDER_DAYS", "30")
    # From this many days before expiration a step also goes to every active authorized user; unset: off.
    REMINDER_ESCALATE_DAYS = _int("REMINDER_ESCALATE_DAYS", None)
    # Who gets the weekly `flask send-digest` (comma-separated addresses); unset, the command exits 2.
    STAFF_DIGEST_TO = os.environ.get("STAFF_DIGEST_TO", "")

    # Behind a TLS-terminating proxy: how many proxies in front of the app set X-Forwarded-For,
    # -Proto, -Host and -Port (werkzeug's ProxyFix). 0 trusts no such header.
    PROXY_COUNT = _int("PROXY_COUNT", 0)
    # Strict-Transport-Security max-age, sent when cookies are secure (HTTPS only).
    HSTS_MAX_AGE = _int("HSTS_MAX_AGE", 365 * 24 * 3600)

    # A sign-in ends after this long without a request, and this long after it began, whatever happens.
    SESSION_IDLE_TIMEOUT_HOURS = _float("SESSION_IDLE_TIMEOUT_HOURS", 8)
    SESSION_LIFETIME_DAYS = _float("SESSION_LIFETIME_DAYS", 7)

    # Failed logins allowed per email and per client address in a window starting at the first one;
    # past either, tries get 429 until the window ends. Behind a proxy, set PROXY_COUNT, or every
    # client shares the proxy's address.
    LOGIN_MAX_FAILURES_PER_EMAIL = _int("LOGIN_MAX_FAILURES_PER_EMAIL", 5)
    LOGIN_MAX_FAILURES_PER_ADDRESS = _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 30)
    LOGIN_THROTTLE_WINDOW_MINUTES = _float("LOGIN_THROTTLE_WINDOW_MINUTES", 15)
    # Staff admins must enrol an authenticator app at their next sign-in before any admin page
    # (off by default only in development, i.e. `make run`'s demo). Wrong codes are throttled with
    # the two limits above, counted per admin and per address apart from logins.
    ADMIN_2FA_REQUIRED = _bool("ADMIN_2FA_REQUIRED", True)

    # Links to Set password: a reset link works once, for this long; so does an invitation's.
    PASSWORD_RESET_VALID_HOURS = _float("PASSWORD_RESET_VALID_HOURS", 1)
    INVITATION_VALID_DAYS = _float("INVITATION_VALID_DAYS", 7)
    # Reset requests (Send reset link) allowed per email and per client address in a window.
    RESET_MAX_PER_EMAIL = _int("RESET_MAX_PER_EMAIL", 3)
    RESET_MAX_PER_ADDRESS = _int("RESET_MAX_PER_ADDRESS", 20)
    RESET_THROTTLE_WINDOW_MINUTES = _float("RESET_THROTTLE_WINDOW_MINUTES", 60)

    # Verified by Microsoft 365 (README, "Microsoft 365"): the provider's multi-tenant Entra app. Without a
    # client id the feature is off: no Connect button, and `verify-tenants` exits 2.
    M365_CLIENT_ID = os.environ.get("M365_CLIENT_ID", "").strip()
    M365_CLIENT_SECRET = os.environ.get("M365_CLIENT_SECRET", "")
    M365_LOGIN_URL = os.environ.get("M365_LOGIN_URL", "https://login.microsoftonline.com").strip()
    M365_GRAPH_URL = os.environ.get("M365_GRAPH_URL", "https://graph.microsoft.com").strip()
    # Seconds one request to Microsoft may take; 429 answers retried at most this often per collection,
    # each after its Retry-After, unless that asks for longer than M365_MAX_RETRY_AFTER seconds.
    M365_TIMEOUT = _float("M365_TIMEOUT", 30)
    M365_MAX_RETRIES = _int("M365_MAX_RETRIES", 5)
    M365_MAX_RETRY_AFTER = _float("M365_MAX_RETRY_AFTER", 120)
    # A license version Microsoft 365 verifies is accepted without a person (the audit entry names the snapshot).
    AUTO_ACCEPT_VERIFIED = _bool("AUTO_ACCEPT_VERIFIED", False)

    # Rendered fragments (a license's row on the Client Licenses tab) are kept between requests, keyed
    # on what they show (webapp.core.fragments): in each worker's memory by default, at most
    # CACHE_THRESHOLD rows (about 2 KB each), each for at most a day.
    CACHE_TYPE = os.environ.get("CACHE_TYPE", "SimpleCache")
    CACHE_THRESHOLD = _int("CACHE_THRESHOLD", 20_000)
    CACHE_DEFAULT_TIMEOUT = 24 * 3600

    # werkzeug's method string. Not read from the environment: production always hashes with scrypt,
    # and finalize() refuses anything else outside the test suite.
    PASSWORD_HASH_METHOD = STRONG_HASH_METHOD

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    # No "remember me": the portal never sets Flask-Login's remember cookie, and one sent anyway
    # goes through the same session lookup as the session cookie.
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Fernet keys (comma-separated) that encrypt staff TOTP secrets at rest: the first encrypts, all
    # decrypt (rotate with `flask rotate-totp-key`). Required in production; development and the
    # tests derive one from SECRET_KEY.
    TOTP_ENCRYPTION_KEYS = os.environ.get("TOTP_ENCRYPTION_KEYS")

    @classmethod
    def finalize(cls, config):
        """Check every setting and fill in the derived ones; a setting it cannot run with raises ConfigError."""
        for name, value in config.items():
            if isinstance(value, BadSetting):
                raise value.error()
        for names, kind, low, high in LIMITS:
            for name in names:
                _check_range(config, name, kind, low, high)
        if config.get("UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT") is None:
            config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"] = 5 * config["UPLOAD_MAX_BYTES"]
        _check_range(config, "UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT", int, 0, None)
        # Room for the other form fields around the file; a body past this is refused before parsing.
        config["MAX_CONTENT_LENGTH"] = config["UPLOAD_MAX_BYTES"] + 256 * 1024
        config["SESSION_IDLE_TIMEOUT"] = timedelta(hours=config["SESSION_IDLE_TIMEOUT_HOURS"])
        config["SESSION_LIFETIME"] = timedelta(days=config["SESSION_LIFETIME_DAYS"])
        config["PASSWORD_RESET_VALID_FOR"] = timedelta(hours=config["PASSWORD_RESET_VALID_HOURS"])
        config["INVITATION_VALID_FOR"] = timedelta(days=config["INVITATION_VALID_DAYS"])
        config["REMINDER_STEPS"] = _reminder_steps(config["REMINDER_DAYS"])
        escalate = config.get("REMINDER_ESCALATE_DAYS")
        if escalate is not None:
            _check_range(config, "REMINDER_ESCALATE_DAYS", int, 0, MAX_REMINDER_DAYS)
        config["STAFF_DIGEST_ADDRESSES"], config["STAFF_DIGEST_PROBLEM"] = _digest_addresses(config.get("STAFF_DIGEST_TO"))
        try:
            ZoneInfo(config["BUSINESS_TIMEZONE"])
        except (ValueError, ZoneInfoNotFoundError):
            raise ConfigError(f"BUSINESS_TIMEZONE={config['BUSINESS_TIMEZONE']!r} is not a time zone "
                              "name such as UTC or Europe/Berlin.") from None
        _check_microsoft365(config)
        portal = urlsplit(config["PORTAL_URL"] or "")
        if portal.scheme not in ("http", "https") or not portal.netloc or not portal.hostname:
            raise ConfigError(f"PORTAL_URL={config['PORTAL_URL']!r} is not an http:// or https:// address, "
                              "such as https://licenses.example-hosting.com.")
        if config["CACHE_TYPE"] not in ("SimpleCache", "NullCache"):
            raise ConfigError(f"CACHE_TYPE={config['CACHE_TYPE']!r}: SimpleCache (each worker's memory, the "
                              "default) or NullCache (no caching).")
        # Every absolute link (emails, the calendar feed) is built from PORTAL_URL, never from a
        # request's Host: SERVER_NAME makes url_for(_external=True) use it, and a request for any other
        # host is refused with 400 (Flask's TRUSTED_HOSTS; the port is not compared).
        config["SERVER_NAME"] = portal.netloc
        config["TRUSTED_HOSTS"] = [portal.hostname]
        if config["PORTAL_ENV"] == "development":  # `make run`: the browser may say either name
            config["TRUSTED_HOSTS"] += [name for name in LOOPBACK_NAMES if name != portal.hostname]
        if not config.get("TESTING") and config["PASSWORD_HASH_METHOD"] != STRONG_HASH_METHOD:
            raise ConfigError(f"PASSWORD_HASH_METHOD must be {STRONG_HASH_METHOD!r}: a cheaper hash is for the test suite only.")
        development = config["PORTAL_ENV"] == "development"
        if not config.get("PROVIDER_NAME"):
            config["PROVIDER_NAME"] = DEMO_PROVIDER_NAME if development else "Your hosting provider"
        if not config.get("SUPPORT_EMAIL"):
            config["SUPPORT_EMAIL"] = DEMO_SUPPORT_EMAIL if development else "support@example.com"
        if config["PORTAL_ENV"] not in ("development", "test"):
            config["MAILBOX_DIR"] = None  # production mails over SMTP, and /dev/mailbox does not exist
        elif development and config["DEV_MAILBOX"] and not config.get("MAILBOX_DIR"):
            config["MAILBOX_DIR"] = str(INSTANCE_DIR / "mailbox")
        if development:
            config["SESSION_COOKIE_SECURE"] = _bool("SESSION_COOKIE_SECURE", False)
            config["ADMIN_2FA_REQUIRED"] = _bool("ADMIN_2FA_REQUIRED", False)
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
        config["TOTP_ENCRYPTION"] = _totp_encryption(config)


GENERATE_FERNET_KEY = "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def _totp_encryption(config):
    """The MultiFernet of TOTP_ENCRYPTION_KEYS; outside production, one key derived from SECRET_KEY when unset."""
    from cryptography.fernet import Fernet, MultiFernet

    text = config.get("TOTP_ENCRYPTION_KEYS")
    keys = [key.strip() for key in (text or "").split(",") if key.strip()]
    if not keys:
        if config["PORTAL_ENV"] not in ("development", "test"):
            raise ConfigError(f"TOTP_ENCRYPTION_KEYS is not set: staff authenticator secrets are encrypted with it. "
                              f"Generate a key with: {GENERATE_FERNET_KEY}")
        derived = hashlib.sha256(b"totp-encryption:" + _as_bytes(config["SECRET_KEY"])).digest()
        keys = [base64.urlsafe_b64encode(derived).decode("ascii")]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ConfigError("TOTP_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded "
                          f"bytes). Generate one with: {GENERATE_FERNET_KEY}") from None


def _check_range(config, name, kind, low, high):
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ConfigError(f"{name}={value!r} is not {'a number' if kind is float else 'a whole number'}.")
    too_low = value <= 0 if low == POSITIVE else value < low
    if too_low or (high is not None and value > high) or not math.isfinite(value):
        bounds = "more than 0" if low == POSITIVE else f"at least {low:g}"
        bounds += f" and at most {high:g}" if high is not None else ""
        raise ConfigError(f"{name}={value!r} is out of range: it must be {bounds}.")


MAX_REMINDER_DAYS = 366


def _reminder_steps(text):
    """REMINDER_DAYS ("60,30,14,7,1") as its steps, largest first; anything else is a ConfigError."""
    parts = [part.strip() for part in str(text or "").split(",")]
    if any(not (part.isascii() and part.isdigit()) for part in parts) or not all(
        1 <= int(part) <= MAX_REMINDER_DAYS for part in parts
    ):
        raise ConfigError(f"REMINDER_DAYS={text!r} is not a comma-separated list of days from 1 to "
                          f"{MAX_REMINDER_DAYS}, such as 60,30,14,7,1.")
    return tuple(sorted({int(part) for part in parts}, reverse=True))


def _digest_addresses(text):
    """(addresses, problem) of STAFF_DIGEST_TO; only send-digest stops on a problem, with exit status 2."""
    if not (text or "").strip():
        return (), "STAFF_DIGEST_TO is not set: the digest needs at least one address."
    addresses = tuple(part.strip() for part in text.split(",") if part.strip())
    for address in addresses:
        local, _, domain = address.rpartition("@")
        if (not local or "." not in domain or not address.isascii() or not address.isprintable()
                or any(ch in address for ch in ' <>,;"()[]\\')):
            return (), f"STAFF_DIGEST_TO={text!r} is not a comma-separated list of email addresses ({address!r})."
    return addresses, ""


# An application (client) id as Entra shows it: a GUID.
CLIENT_ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _check_microsoft365(config):
    """The Microsoft 365 settings: a GUID client id with its secret, and https:// addresses without a path."""
    client_id = config.get("M365_CLIENT_ID") or ""
    if client_id and not CLIENT_ID_PATTERN.match(client_id):
        raise ConfigError(f"M365_CLIENT_ID={client_id!r} is not an application (client) id, a GUID such as "
                          "00000000-0000-0000-0000-000000000000, as the app registration in Entra ID shows it.")
    if client_id and not config.get("M365_CLIENT_SECRET"):
        raise ConfigError("M365_CLIENT_SECRET is not set: M365_CLIENT_ID needs the client secret made for it in Entra ID.")
    for name in ("M365_LOGIN_URL", "M365_GRAPH_URL"):
        address = urlsplit(config.get(name) or "")
        if address.scheme != "https" or not address.netloc or address.path.strip("/") or address.query:
            raise ConfigError(f"{name}={config.get(name)!r} is not an https:// address without a path, "
                              "such as https://graph.microsoft.com.")


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
    PROVIDER_NAME = DEMO_PROVIDER_NAME
    SUPPORT_EMAIL = DEMO_SUPPORT_EMAIL
    MAIL_DEFAULT_SENDER = DEMO_SENDER
    MAIL_SUPPRESS_SEND = False
    # Two cores shared by a busy suite: a child interpreter can take a second just to start. The
    # tests of hostile PDFs set the production limit themselves.
    PROOF_TEXT_SECONDS = 30
    # One PBKDF2 round instead of scrypt: the suite hashes hundreds of passwords, and the strength of
    # the hash is not what it tests (tests/identity/test_passwords.py checks that production keeps scrypt).
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1"
    # Most tests of staff pages sign in with a password alone; tests/identity/test_two_factor.py turns it on.
    ADMIN_2FA_REQUIRED = False
