"""Customer accounts, their users (and staff admins), and the recorded changes of an account's state."""
from flask_login import UserMixin
from peewee import (
    BooleanField,
    Check,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
)

from ..core.clock import utcnow
from ..extensions import db
from ..identity.passwords import hash_password, password_matches


class Account(db.Model):
    """A customer company hosted by the provider."""

    ACTIVE = "active"
    SUSPENDED = "suspended"

    name = CharField(max_length=200, unique=True)
    status = CharField(max_length=16, default=ACTIVE)
    byol_enrolled = BooleanField(default=True)
    # The day of the month a billing cycle starts; the database refuses any other (migration 0023).
    billing_day = IntegerField(default=1, constraints=[Check('"billing_day" BETWEEN 1 AND 31')])
    created_at = DateTimeField(default=utcnow)

    @property
    def is_active(self):
        return self.status == self.ACTIVE

class User(UserMixin, db.Model):
    """A customer's user (belongs to an account) or a staff admin (belongs to none)."""

    email = CharField(max_length=254, unique=True)
    name = CharField(max_length=200, default="")
    password_hash = CharField(max_length=256)
    account = ForeignKeyField(Account, null=True, backref="users", on_delete="CASCADE")
    is_admin = BooleanField(default=False)
    is_authorized = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # A staff admin's TOTP authenticator (base32 secret); None until one is enrolled and confirmed.
    # It has to be readable to check a code, so it is kept as is, like the password hash's salt.
    totp_secret = CharField(max_length=64, null=True)
    # The last TOTP time step accepted: a code of that step or an earlier one is a replay, refused.
    totp_last_step = IntegerField(null=True)
    # Set by staff: the user can no longer sign in; the row stays for the history that names them.
    deactivated_at = DateTimeField(null=True)

    @property
    def is_deactivated(self):
        return self.deactivated_at is not None

    def set_password(self, password):
        self.password_hash = hash_password(password)

    def get_session_id(self):
        """What Flask-Login keeps in the cookie: the id of this sign-in's session, never the user id."""
        return getattr(self, "session_token", None)

    def check_password(self, password):
        return password_matches(self.password_hash, password)

    @property
    def may_use_portal(self):
        """Only an authorized user of an active account may open the Onboarding Portal."""
        return (
            not self.is_admin
            and self.is_authorized
            and self.account is not None
            and self.account.is_active
        )

class AccountChange(db.Model):
    """A staff change of an account's status or BYOL enrollment: what it was, what it became, when.

    Billing reads an account's state at a cycle's start from these: the first change after that
    moment says what the value was before it (none: it is still the current value).
    """

    STATUS = "status"
    ENROLLMENT = "enrollment"

    account = ForeignKeyField(Account, backref="changes", on_delete="CASCADE")
    field = CharField(max_length=16)
    previous = CharField(max_length=16)
    value = CharField(max_length=16)
    changed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    changed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "changed_at"), False),)
