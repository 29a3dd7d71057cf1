"""The billing API's bearer tokens."""
from peewee import (
    CharField,
    DateTimeField,
    IntegerField,
)

from ..core.clock import utcnow
from ..extensions import db


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
