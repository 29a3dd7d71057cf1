"""Every review of a license version's proof, with the state it replaced."""
from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    TextField,
)

from ..accounts.models import User
from ..core.clock import utcnow
from ..extensions import db
from ..licenses.models import LicenseVersion


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
