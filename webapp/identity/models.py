"""Signing in: sessions, recovery codes and single-use Set password links (the failed-login counters
are core.limiter's)."""
from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
)

from ..accounts.models import User
from ..core.clock import utcnow
from ..extensions import db


class LoginSession(db.Model):
    """One sign-in: the cookie carries a random id, the database only its SHA-256 (`id`).

    A copy of the table (a backup, a read-only leak) therefore holds no session a browser could use.
    Deleting the row ends the session: logout, a password change, a suspension, a lost authorization.
    """

    id = CharField(max_length=64, primary_key=True)
    user = ForeignKeyField(User, backref="login_sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    # Refreshed at most once a minute (see sessions.TOUCH_INTERVAL), so a page view rarely writes.
    last_seen_at = DateTimeField(default=utcnow)
    ip_address = CharField(max_length=45, default="")
    user_agent = CharField(max_length=200, default="")
    # When an admin of this sign-in passed the second factor (a TOTP or recovery code); None: not yet.
    second_factor_at = DateTimeField(null=True)
    # The secret shown on the enrolment page until a first code confirms it; never in a form or cookie.
    pending_totp_secret = CharField(max_length=64, null=True)

class RecoveryCode(db.Model):
    """One of an admin's ten single-use recovery codes, kept only as its SHA-256."""

    user = ForeignKeyField(User, backref="recovery_codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64)
    used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "code_hash"), True),)

class AccessToken(db.Model):
    """A single-use link to Set password (a password reset or an invitation): only its SHA-256 is kept.

    It is used up by a conditional UPDATE (used_at IS NULL, expires_at in the future) whose row
    count decides, so two clicks cannot both use it.
    """

    RESET = "reset"
    INVITE = "invite"

    token_hash = CharField(max_length=64, unique=True)
    purpose = CharField(max_length=16)
    user = ForeignKeyField(User, backref="access_tokens", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "purpose"), False),)
