"""Peewee models: accounts and their users, licenses with their history, proof documents, and reminders."""
from datetime import datetime, timezone

from flask_login import UserMixin
from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DeferredForeignKey,
    ForeignKeyField,
    IntegerField,
    PostgresqlDatabase,
    TextField,
)
from playhouse.db_url import connect as connect_url

from .extensions import db
from .passwords import hash_password, password_matches


def utcnow():
    """Now, as a naive UTC datetime (what both SQLite and PostgreSQL store)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def open_database(url, pool=False):
    """A Peewee database for a DATABASE_URL; SQLite gets WAL, foreign keys and a busy timeout.

    With `pool`, connections are kept between requests: opening one per request (a new server
    process on PostgreSQL) cost more than rendering the Client Licenses page.
    """
    scheme, _, rest = url.partition("://")
    params = {}
    if pool or scheme.endswith("+pool"):
        scheme = scheme.removesuffix("+pool") + "+pool"
        params = {"max_connections": 32, "stale_timeout": 300}
    if scheme.startswith("sqlite"):
        # cache_size: 16 MB of pages per connection (SQLite's default is 2 MB). The staff pages read
        # pages spread over the license tables (the expiry timeline, a page's 1,250 licenses), which
        # thrashed the default cache: each request read them from the OS again.
        params["pragmas"] = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "cache_size": -16000}
        if "max_connections" in params:
            # The pool lends a connection to one thread at a time, but not always to the thread
            # that opened it; sqlite3 refuses that unless told the caller keeps it safe.
            params["check_same_thread"] = False
    return connect_url(f"{scheme}://{rest}", **params)


def on_postgresql():
    """True on PostgreSQL, where work that reads then writes locks rows; SQLite has one writer at a time."""
    return isinstance(getattr(db.database, "obj", db.database), PostgresqlDatabase)


def write_transaction():
    """A transaction for reading then writing: on SQLite it takes the write lock at BEGIN, so no other
    writer slips in between; on PostgreSQL the caller locks the rows it reads."""
    return db.database.atomic() if on_postgresql() else db.database.atomic("IMMEDIATE")


class Account(db.Model):
    """A customer company hosted by the provider."""

    ACTIVE = "active"
    SUSPENDED = "suspended"

    name = CharField(max_length=200, unique=True)
    status = CharField(max_length=16, default=ACTIVE)
    byol_enrolled = BooleanField(default=True)
    billing_day = IntegerField(default=1)
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

    def save(self, *args, **kwargs):
        """Save; a changed password ends every session of the user, in the same transaction.

        Set passwords through set_password() and save(): a bulk User.update(password_hash=...)
        would leave the user's sessions alive.
        """
        password_changed = self.id is not None and "password_hash" in self._dirty
        with db.database.atomic():
            saved = super().save(*args, **kwargs)
            if password_changed:
                LoginSession.delete().where(LoginSession.user == self.id).execute()
        return saved

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


class Product(db.Model):
    """A product a license can be for; the drop-down is this table, not code."""

    name = CharField(max_length=100, unique=True)
    position = IntegerField(default=0)


class ProofDocument(db.Model):
    """An uploaded proof of licensing, stored in the database so every web server and backup has it."""

    account = ForeignKeyField(Account, backref="documents", on_delete="CASCADE")
    content = BlobField()
    sha256 = CharField(max_length=64)
    size = IntegerField()
    original_name = CharField(max_length=255)
    media_type = CharField(max_length=50)
    uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    uploaded_at = DateTimeField(default=utcnow)
    # The text layer as read at upload (webapp.pdf_text), kept so a version that later uses this
    # upload is checked without reading it again; text_status says how the reading went.
    text_status = CharField(max_length=16, default="unchecked")
    extracted_text = TextField(default="")

    @classmethod
    def metadata_fields(cls):
        """Every column but the content and its text, for queries that list documents."""
        # Compared by identity: == on a field builds an SQL expression, always true.
        return [f for f in cls._meta.sorted_fields if f is not cls.content and f is not cls.extracted_text]


class License(db.Model):
    """One Office 365 plan an account brings; its terms live in its versions."""

    account = ForeignKeyField(Account, backref="licenses", on_delete="CASCADE")
    product = ForeignKeyField(Product)
    plan = CharField(max_length=200)
    # The plan name as compared (webapp.text.plan_key): "Office 365  e3", "Ｏｆｆｉｃｅ 365 E3" and
    # "Office 365 E3" are one plan.
    plan_key = CharField(max_length=200)
    # No database constraint (the two tables point at each other); always set in the same transaction.
    current = DeferredForeignKey("LicenseVersion", null=True, on_delete=None)
    created_at = DateTimeField(default=utcnow)
    # Removed by the customer (a plan they no longer have): it stops counting from the next billing
    # cycle, gets no reminders, and stays, with its versions, for staff and for past cycles.
    retired_at = DateTimeField(null=True)
    retired_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    # The current version's expiration date and seats, set with `current` (license_store._add_version is
    # the one place that changes it): the dashboard's expiry timeline and the accounts list's date filters
    # and sort find licenses by them through an index, instead of joining every license to its current
    # version.
    expires_on = DateField(null=True)
    seats = IntegerField(null=True)

    @property
    def is_retired(self):
        return self.retired_at is not None


# One license per plan among those not removed: a plan removed and entered again is a new license,
# and the removed one keeps its own history.
License.add_index(
    License.index(
        License.account, License.product, License.plan_key, unique=True,
        where=License.retired_at.is_null(), name="license_unique_plan_not_retired",
    )
)
# The expiry timeline's months (the index holds all it sums), the accounts list's expired and expiring
# filters, and its sort by each account's earliest expiration, among the licenses not removed.
License.add_index(
    License.index(License.expires_on, License.account, License.seats, where=License.retired_at.is_null(),
                  name="license_expires_on_not_retired")
)
License.add_index(
    License.index(License.account, License.expires_on, where=License.retired_at.is_null(),
                  name="license_account_expires_on_not_retired")
)


class LicenseVersion(db.Model):
    """One submission of a license's terms and proof; earlier ones are its history."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    license = ForeignKeyField(License, backref="versions", on_delete="CASCADE")
    seats = IntegerField()
    term = CharField(max_length=16)
    expires_on = DateField(index=True)
    tenant = CharField(max_length=253)
    contact_name = CharField(max_length=200)
    contact_email = CharField(max_length=254)
    proof = ForeignKeyField(ProofDocument)
    review_status = CharField(max_length=16, default=PENDING)
    review_reason = TextField(default="")
    reviewed_at = DateTimeField(null=True)
    submitted_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    submitted_at = DateTimeField(default=utcnow)

    class Meta:
        # The review queue and the "awaiting review" filter look for the few pending versions among all.
        indexes = ((("review_status", "submitted_at"), False),)

    @property
    def is_rejected(self):
        return self.review_status == self.REJECTED


class ProofCheck(db.Model):
    """A license version's proof read against the terms entered with it (issue 10).

    It belongs to the version, not the document: the same upload kept from a failed form may be
    saved with other terms than it was uploaded with, and the comparison is with what was entered
    for that version. Written with the version, in its transaction. `status` is how reading the
    document went (webapp.pdf_text); each field's result is set only when the text was read: found,
    not_found or different, with `*_seen` what the document says instead. A version without a row
    was submitted before this check existed.
    """

    version = ForeignKeyField(LicenseVersion, backref="proof_checks", unique=True, on_delete="CASCADE")
    status = CharField(max_length=16)
    plan = CharField(max_length=16, default="")
    plan_seen = CharField(max_length=100, default="")
    seats = CharField(max_length=16, default="")
    seats_seen = CharField(max_length=100, default="")
    expires_on = CharField(max_length=16, default="")
    expires_on_seen = CharField(max_length=100, default="")
    tenant = CharField(max_length=16, default="")
    tenant_seen = CharField(max_length=100, default="")
    checked_at = DateTimeField(default=utcnow)


class Reminder(db.Model):
    """The reminder of one kind for one expiration date of one license: pending, sent or failed.

    The unique key (license, expires_on, kind) is what makes it exactly once: a renewal with a new
    date is a new key, and two runs cannot both create or both claim the same row.
    """

    EXPIRY_30_DAYS = "expiry-30-days"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"

    license = ForeignKeyField(License, backref="reminders", on_delete="CASCADE")
    expires_on = DateField()
    kind = CharField(max_length=32, default=EXPIRY_30_DAYS)
    status = CharField(max_length=16, default=PENDING)
    recipient = CharField(max_length=254, default="")
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    # A run owns the reminder while claim_token is its token and claimed_at is within the lease.
    claim_token = CharField(max_length=32, null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("license", "expires_on", "kind"), True),
            # The send loop walks the due ones in (expires_on, id) order, soonest first.
            (("expires_on", "id"), False),
        )


class ReminderAttempt(db.Model):
    """One try at sending a reminder: to whom, when, and what the mail server said.

    Only FAILED (the server refused the recipient or the message, or the address cannot be sent)
    uses up one of the reminder's REMINDER_MAX_ATTEMPTS: an outage must not exhaust them.
    """

    SENT = "sent"
    FAILED = "failed"
    # No session to send in: no connection, TLS or login failed, the sender was refused, or no answer
    # before any recipient was given.
    UNREACHABLE = "unreachable"
    # The connection dropped or timed out after the recipient was given, before a yes or a no.
    INTERRUPTED = "interrupted"

    reminder = ForeignKeyField(Reminder, backref="attempt_log", on_delete="CASCADE")
    license = ForeignKeyField(License, on_delete="CASCADE")
    expires_on = DateField()
    recipient = CharField(max_length=254)
    attempted_at = DateTimeField(default=utcnow)
    outcome = CharField(max_length=16)
    error = TextField(default="")


class ReminderRunLog(db.Model):
    """One `flask send-reminders` run: when it started and finished, what it did, and its exit status.

    Written when the run starts and again when it ends: a run that died leaves finished_at NULL.
    """

    started_at = DateTimeField(default=utcnow, index=True)
    finished_at = DateTimeField(null=True, index=True)
    run_date = DateField()
    sent = IntegerField(default=0)
    failed = IntegerField(default=0)
    skipped = IntegerField(default=0)
    exit_status = IntegerField(null=True)
    note = TextField(default="")


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


class LoginThrottle(db.Model):
    """Failed logins counted per key (an email, or a client address) in a fixed window from its first failure.

    The key is a SHA-256 of what it counts, so the table does not list the emails people tried.
    """

    key = CharField(max_length=64, primary_key=True)
    failures = IntegerField(default=0)
    window_start = DateTimeField(default=utcnow, index=True)


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


class ReviewEvent(db.Model):
    """One review of a license version's proof: the state before and after it, and when.

    LicenseVersion keeps only the latest review; these keep every one, so a past billing cycle can
    be decided with the review state as it was at its start.
    """

    version = ForeignKeyField(LicenseVersion, backref="reviews", on_delete="CASCADE")
    previous_status = CharField(max_length=16)
    review_status = CharField(max_length=16)
    review_reason = TextField(default="")
    reviewed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    reviewed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("version", "reviewed_at"), False),)


class ApiToken(db.Model):
    """A bearer token of the billing API: only its SHA-256 is kept; the token is shown once.

    The rate limit is a counter per token over a fixed window, updated in the same statement that
    checks the token.
    """

    name = CharField(max_length=100, unique=True)
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    window_started_at = DateTimeField(null=True)
    window_count = IntegerField(default=0)


class CalendarFeed(db.Model):
    """An account's secret calendar feed URL: only the SHA-256 of its token is kept; Regenerate replaces it."""

    account = ForeignKeyField(Account, backref="calendar_feeds", unique=True, on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)


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


class AuditEntry(db.Model):
    """One change, as staff must show it in a billing dispute: who, when, which account, what, before and after.

    Written by `webapp.audit.record()` in the change's own transaction. Nothing in the product
    updates or deletes a row; a deleted user or account leaves the entry with its label and subject.
    """

    at = DateTimeField(default=utcnow, index=True)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_label = CharField(max_length=254)
    account = ForeignKeyField(Account, null=True, backref="audit_entries", on_delete="SET NULL")
    kind = CharField(max_length=48)
    subject = CharField(max_length=300, default="")
    before = TextField(default="")
    after = TextField(default="")
    internal = BooleanField(default=False)

    class Meta:
        indexes = ((("account", "at"), False), (("kind", "at"), False))


MODELS = [
    Account, User, Product, ProofDocument, License, LicenseVersion, Reminder, ReminderAttempt,
    LoginSession, LoginThrottle, AccountChange, ReviewEvent, ApiToken, CalendarFeed, RecoveryCode,
    AccessToken, ReminderRunLog, AuditEntry, ProofCheck,
]
PRODUCTS = ["MS Office 365"]


def add_products():
    """Put the product list in place; safe to run again."""
    for position, name in enumerate(PRODUCTS):
        Product.get_or_create(name=name, defaults={"position": position})
