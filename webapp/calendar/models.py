"""An account's secret calendar feed URL, kept as the SHA-256 of its token."""
from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
)

from ..accounts.models import Account, User
from ..core.clock import utcnow
from ..extensions import db


class CalendarFeed(db.Model):
    """An account's secret calendar feed URL: only the SHA-256 of its token is kept; Regenerate replaces it."""

    account = ForeignKeyField(Account, backref="calendar_feeds", unique=True, on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
