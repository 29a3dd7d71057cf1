"""Password rules of NIST SP 800-63B: a length range and a list of common passwords; no composition rules.

Every place that sets a password (the Set password and Change password forms, `flask create-user`,
`create-admin`, `set-password`) asks `password_problem`. The common-password list is bundled with
the app (`webapp/identity/data/common_passwords.txt`, Django's list of 19,640 leaked passwords, lower case),
so no check needs the network.
"""
from functools import cache
from pathlib import Path

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

from config import STRONG_HASH_METHOD

MIN_LENGTH = 12
# Long enough for any passphrase or password manager; bounds the work of hashing hostile input.
MAX_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@cache
def common_passwords():
    """The bundled list as a set of lower-case strings, read once per process."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password, email=""):
    """Why `password` may not be used (a sentence for the user), or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters: a few words that belong together only for you work well."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if not password.strip():
        return "A password of only spaces is too easy to guess."
    folded = password.casefold()
    if folded in common_passwords():
        return "This password is on a list of passwords people use often, which attackers try first. Choose another."
    if email and folded in {email.casefold(), email.casefold().partition("@")[0]}:
        return "Do not use your email address as your password."
    return None


def hash_method():
    """The app's PASSWORD_HASH_METHOD; outside an app, the strong one."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", STRONG_HASH_METHOD)
    return STRONG_HASH_METHOD


def hash_password(password):
    """The stored form of `password`, salted, made with the app's method."""
    return generate_password_hash(password, method=hash_method())


def password_matches(password_hash, password):
    """True when `password` is the one `password_hash` was made from, whatever method made it.

    A stored value that is no hash (an invited user's "!", who has not set a password yet) matches
    nothing, after the same hashing work as a real one: werkzeug refuses it at once, and the answer's
    speed would tell such an email apart from every other.
    """
    if not _is_hash(password_hash):
        check_for_unknown_user(password)
        return False
    return check_password_hash(password_hash, password)


def _is_hash(stored):
    """werkzeug's `method$salt$hash`, with a method it knows how to check."""
    method, _, rest = (stored or "").partition("$")
    return bool(rest) and "$" in rest and method.split(":", 1)[0] in {"scrypt", "pbkdf2"}


@cache
def unknown_user_hash(method):
    """A hash no password matches, made once per method (the auth blueprint makes it at start-up)."""
    return generate_password_hash("not-a-real-password", method=method)


def check_for_unknown_user(password):
    """Spend on an unknown email the time a known one takes, so the answer's timing tells nothing."""
    check_password_hash(unknown_user_hash(hash_method()), password)
