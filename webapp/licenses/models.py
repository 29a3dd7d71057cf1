"""Licenses with their versions (history), the products they can be for, proof documents and their check."""
from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DeferredForeignKey,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from ..accounts.models import Account, User
from ..core.clock import utcnow
from ..extensions import db


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
    # The text layer as read at upload (webapp.licenses.document_text), kept so a version that later uses this
    # upload is checked without reading it again; text_status says how the reading went.
    text_status = CharField(max_length=16, default="unchecked")
    extracted_text = TextField(default="")
    # The active content found in a PDF when it was read (document_text.ACTIVE_KINDS, comma-separated):
    # JavaScript, an action on opening... Staff are warned before they open it in their own reader.
    active_content = CharField(max_length=100, default="")

    @classmethod
    def metadata_fields(cls):
        """Every column but the content and its text, for queries that list documents."""
        # Compared by identity: == on a field builds an SQL expression, always true.
        return [f for f in cls._meta.sorted_fields if f is not cls.content and f is not cls.extracted_text]

class ProofPreview(db.Model):
    """A proof document's preview for staff: its first page (a PDF) or the image, scaled down.

    Made by the reading child process at upload (webapp.licenses.document_text), or at the first
    view of a document stored before previews existed, and kept, so no page view starts a process.
    An empty `content` records that none could be made (a hostile or broken file): "no preview".
    """

    document = ForeignKeyField(ProofDocument, primary_key=True, backref="preview", on_delete="CASCADE")
    content = BlobField()
    media_type = CharField(max_length=16, default="")
    width = IntegerField(default=0)
    height = IntegerField(default=0)
    made_at = DateTimeField(default=utcnow)

    @property
    def exists(self):
        return bool(self.media_type)


class License(db.Model):
    """One Office 365 plan an account brings; its terms live in its versions."""

    account = ForeignKeyField(Account, backref="licenses", on_delete="CASCADE")
    product = ForeignKeyField(Product)
    plan = CharField(max_length=200)
    # The plan name as compared (webapp.licenses.plans.plan_key): "Office 365  e3", "Ｏｆｆｉｃｅ 365 E3" and
    # "Office 365 E3" are one plan.
    plan_key = CharField(max_length=200)
    # No database constraint (the two tables point at each other); always set in the same transaction.
    current = DeferredForeignKey("LicenseVersion", null=True, on_delete=None)
    created_at = DateTimeField(default=utcnow)
    # Removed by the customer (a plan they no longer have): it stops counting from the next billing
    # cycle, gets no reminders, and stays, with its versions, for staff and for past cycles.
    retired_at = DateTimeField(null=True)
    retired_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    # The current version's expiration date and seats, set with `current` (licenses.store._add_version is
    # the one place that changes it): the dashboard's expiry timeline and the accounts list's date filters
    # and sort find licenses by them through an index, instead of joining every license to its current
    # version.
    expires_on = DateField(null=True)
    seats = IntegerField(null=True)
    # Removal of a lapsed plan, asked by the customer and awaiting staff (docs/domain.md, "Removing a plan"):
    # until staff confirm (retired_at set then) the plan stays on file and still counts as lapsed.
    removal_requested_at = DateTimeField(null=True)
    removal_requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")

    @property
    def is_retired(self):
        return self.retired_at is not None

    @property
    def removal_awaiting_confirmation(self):
        return self.removal_requested_at is not None and self.retired_at is None


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
    # Saved anyway against a document that says otherwise (the customer saw the difference at the form):
    # this version counts for BYOL only once staff accept it. `customer_note` is what they told staff.
    saved_anyway = BooleanField(default=False)
    customer_note = TextField(default="")

    class Meta:
        # The review queue and the "awaiting review" filter look for the few pending versions among all.
        indexes = ((("review_status", "submitted_at"), False),)

    @property
    def is_rejected(self):
        return self.review_status == self.REJECTED

class ProofCheck(db.Model):
    """A license version's proof read against the terms entered with it.

    It belongs to the version, not the document: the same upload kept from a failed form may be
    saved with other terms than it was uploaded with, and the comparison is with what was entered
    for that version. Written with the version, in its transaction. `status` is how reading the
    document went (webapp.licenses.document_text); each field's result is set only when the text was read: found,
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


class DocumentReading(db.Model):
    """An account's document being read right now: one at a time per account, across every worker and server.

    The row is the lease (webapp.licenses.reading): taken by a conditional upsert, deleted when the
    reading ends, and free again on its own at `expires_at` if the worker holding it was killed.
    """

    account = ForeignKeyField(Account, primary_key=True, on_delete="CASCADE")
    # A random token of the one reading that holds the lease, so only it releases the row.
    holder = CharField(max_length=32)
    expires_at = DateTimeField()


PRODUCTS = ["MS Office 365"]


def add_products():
    """Put the product list in place; safe to run again."""
    for position, name in enumerate(PRODUCTS):
        Product.get_or_create(name=name, defaults={"position": position})
