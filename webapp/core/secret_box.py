"""Secrets the app must read back (a TOTP authenticator's secret), kept encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under the keys of TOTP_ENCRYPTION_KEYS:
the first key encrypts, every key decrypts (MultiFernet), so a key is rotated by putting a new one
first, running `flask rotate-totp-key` (every secret re-encrypted under it), then dropping the old.
A copy of the database without the key (a backup, a read-only leak) holds no usable secret.
"""
from cryptography.fernet import InvalidToken
from flask import current_app, has_app_context
from peewee import CharField

# What finalize() keeps in the app's config: the MultiFernet of TOTP_ENCRYPTION_KEYS.
CONFIG_KEY = "TOTP_ENCRYPTION"


class UnreadableSecret(RuntimeError):
    """A stored secret none of the configured keys decrypts: a key was dropped too early, or changed."""


# The keys of the app this process built last (create_app calls init_app): rows are read and written
# outside an app context too (a thread, a script), and a process runs one portal.
_process_box = None


def init_app(app):
    global _process_box
    _process_box = app.config[CONFIG_KEY]


def _box():
    if has_app_context() and CONFIG_KEY in current_app.config:
        return current_app.config[CONFIG_KEY]
    if _process_box is None:
        raise RuntimeError("No TOTP_ENCRYPTION_KEYS: build the app (create_app) before reading staff secrets.")
    return _process_box


def seal(text):
    """`text` encrypted under the first key (a Fernet token, about 140 characters for a TOTP secret)."""
    return _box().encrypt(text.encode("utf-8")).decode("ascii")


def unseal(token):
    """The text of a sealed token; UnreadableSecret when no configured key opens it."""
    try:
        return _box().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise UnreadableSecret(
            "A stored TOTP secret cannot be decrypted with TOTP_ENCRYPTION_KEYS: keep the key it was "
            "encrypted with in the list until `flask rotate-totp-key` has run."
        ) from None


def reseal(token):
    """The same secret, encrypted again under the first key (for `flask rotate-totp-key`)."""
    try:
        return _box().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        unseal(token)  # raises the readable error
        raise


def is_sealed(value):
    """True when `value` looks like a Fernet token rather than a plain base32 secret."""
    return bool(value) and value.startswith("gAAAAA")


class SealedField(CharField):
    """A text column stored sealed: written encrypted, read decrypted; NULL stays NULL."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def db_value(self, value):
        return None if value is None else seal(value)

    def python_value(self, value):
        return None if value is None else unseal(value)
