"""Staff sign in with a second factor: TOTP authenticators (pyotp), their QR code (segno), and ten
single-use recovery codes kept only as SHA-256.

Plain functions over the rows; the time is an argument (a Unix timestamp), so tests choose it, and
without one it is the app's clock (core.clock.now(), which the CLOCK setting moves).
A code is accepted once: the time step it belongs to is recorded by a conditional UPDATE whose
row count decides, so a replayed code, or two requests racing with one code, find no row to update.
"""
import base64
import secrets

import pyotp
import segno
from peewee import Value, fn

from .. import audit
from ..accounts.models import User
from ..core import clock, secret_box
from ..core.clock import utcnow
from ..core.secret_tokens import digest
from ..extensions import db
from .models import LoginSession, RecoveryCode

RECOVERY_CODE_COUNT = 10
# Steps either side of now that still count: a phone clock up to 30 s off still works.
VALID_WINDOW = 1
NEEDS_CODE = "code"
NEEDS_ENROLMENT = "enrolment"


class AlreadyEnrolled(Exception):
    """The admin has an authenticator already; only the operator's `flask reset-2fa` clears it."""


def owed_step(user, required):
    """What a signed-in user must still do before any staff page: None, NEEDS_CODE or NEEDS_ENROLMENT."""
    if not user.is_admin or getattr(user, "second_factor_at", None) is not None:
        return None
    if user.totp_secret:
        return NEEDS_CODE
    return NEEDS_ENROLMENT if required else None


def new_secret():
    """A fresh random TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32()


def grouped(text, size=4):
    """A secret or code in groups of four, easier to read and type."""
    return " ".join(text[i:i + size] for i in range(0, len(text), size))


def provisioning_uri(secret, email, issuer):
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri):
    """The QR code of `uri` as an inline SVG element (no style attribute, so the CSP allows it)."""
    return segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app")


def matching_step(secret, code, now):
    """The time step, within VALID_WINDOW of `now`, whose code is `code`; None when there is none."""
    code = "".join((code or "").split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        moment = now + offset * totp.interval
        if moment >= 0 and totp.verify(code, for_time=moment):
            return totp.timecode(moment)
    return None


def verify_totp(user_id, code, now=None):
    """True when `code` is the admin's TOTP code now and no code of its time step (or a later one) was used."""
    now = clock.unix_time(clock.now()) if now is None else now
    # The stored (sealed) value as it is, so the UPDATE can require that it did not change meanwhile.
    sealed = User.select(fn.COALESCE(User.totp_secret, None).coerce(False)).where(User.id == user_id).scalar()
    secret = secret_box.unseal(sealed) if sealed else None
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    return (
        User.update(totp_last_step=step)
        .where(
            (User.id == user_id)
            & (User.totp_secret == Value(sealed, converter=False))
            & (User.totp_last_step.is_null() | (User.totp_last_step < step))
        )
        .execute()
        == 1
    )


def rotate_secrets():
    """Re-encrypt every stored TOTP secret under the first of TOTP_ENCRYPTION_KEYS (`flask rotate-totp-key`);
    returns how many. Rows are read and written as stored, each update conditional on the value read."""
    rotated = 0
    with db.database.atomic():
        rows = User.select(User.id, fn.COALESCE(User.totp_secret, None).coerce(False).alias("sealed")).where(
            User.totp_secret.is_null(False)).tuples()
        for user_id, sealed in list(rows):
            rotated += User.update(totp_secret=Value(secret_box.reseal(sealed), converter=False)).where(
                (User.id == user_id) & (User.totp_secret == Value(sealed, converter=False))).execute()
    return rotated


def _recovery_digest(code):
    """The SHA-256 of a recovery code as typed: case, spaces and dashes do not matter."""
    return digest("".join(ch for ch in (code or "") if ch not in "- \t").lower())


def _new_recovery_code():
    # 80 random bits: a copy of the hashes cannot be searched for the codes.
    return "-".join(grouped(base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()).split())


def issue_recovery_codes(user_id):
    """Replace the admin's recovery codes with ten new ones; returns them (the only time they exist in clear)."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    with db.database.atomic():
        RecoveryCode.delete().where(RecoveryCode.user == user_id).execute()
        RecoveryCode.insert_many(
            [{"user": user_id, "code_hash": _recovery_digest(code)} for code in codes]
        ).execute()
    return codes


def use_recovery_code(user_id, code):
    """Spend one unused recovery code of the admin; True when it was one."""
    if not code or len(code) > 64:
        return False
    return (
        RecoveryCode.update(used_at=utcnow())
        .where(
            (RecoveryCode.user == user_id)
            & (RecoveryCode.code_hash == _recovery_digest(code))
            & RecoveryCode.used_at.is_null()
        )
        .execute()
        == 1
    )


def check_code(user_id, code):
    """Sign-in's second step: "app" for the authenticator's code, "recovery" for an unused recovery
    code (now spent), None for anything else."""
    if verify_totp(user_id, code):
        return "app"
    return "recovery" if use_recovery_code(user_id, code) else None


def recovery_codes_left(user_id):
    """How many of the admin's recovery codes are still unused."""
    return RecoveryCode.select().where((RecoveryCode.user == user_id) & RecoveryCode.used_at.is_null()).count()


def enrol(user_id, secret, code, now=None):
    """Confirm an authenticator with its first code; returns the ten recovery codes, or None if the code is wrong.

    Raises AlreadyEnrolled when the admin has one (say, confirmed from another browser meanwhile).
    """
    now = clock.unix_time(clock.now()) if now is None else now
    step = matching_step(secret, code, now)
    if step is None:
        return None
    with db.database.atomic():
        confirmed = (
            User.update(totp_secret=secret, totp_last_step=step)
            .where((User.id == user_id) & User.totp_secret.is_null())
            .execute()
        )
        if not confirmed:
            raise AlreadyEnrolled()
        _record_change(user_id, before={"authenticator": "none"},
                       after={"authenticator": "enrolled", "recovery_codes": "issued"})
        return issue_recovery_codes(user_id)


def replace_recovery_codes(user_id):
    """An admin's own Replace recovery codes: ten new ones, the old ones dead, in one transaction with its entry."""
    with db.database.atomic():
        codes = issue_recovery_codes(user_id)
        _record_change(user_id, after={"recovery_codes": "replaced"})
    return codes


def _record_change(user_id, before=None, after=None):
    user = User.select(User.email, User.account).where(User.id == user_id).first()
    audit.record("user.second_factor_changed", account=user.account_id, subject=user.email,
                 before=before, after=after)


def reset(user_id):
    """Clear the admin's authenticator and recovery codes and end their sessions (`flask reset-2fa`).

    Returns how many sessions were ended.
    """
    with db.database.atomic():
        had_one = User.select(User.totp_secret).where(User.id == user_id).scalar() is not None
        User.update(totp_secret=None, totp_last_step=None).where(User.id == user_id).execute()
        RecoveryCode.delete().where(RecoveryCode.user == user_id).execute()
        _record_change(user_id, before={"authenticator": "enrolled" if had_one else "none"},
                       after={"authenticator": "none", "recovery_codes": "cleared"})
        return LoginSession.delete().where(LoginSession.user == user_id).execute()
