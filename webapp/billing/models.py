"""The billing API's bearer tokens."""
from peewee import (
    CharField,
    DateTimeField,
)

from ..core.clock import utcnow
from ..extensions import db


class ApiToken(db.Model):
    """A bearer token of the billing API: only its SHA-256 is kept; the token is shown once.

    Its rate limit is a counter of core.limiter's, keyed by the token's digest (api_tokens.use_token).
    """

    name = CharField(max_length=100, unique=True)
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
