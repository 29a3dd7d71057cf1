"""Bearer tokens for the billing API: created once and shown once, kept only as a SHA-256, rate-limited."""
from datetime import timedelta

from peewee import Case, IntegrityError

from .. import audit
from ..core.clock import utcnow
from ..core.secret_tokens import digest, new_token
from ..extensions import db
from .models import ApiToken

RATE_WINDOW = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200
ALLOWED, INVALID, LIMITED = "allowed", "invalid", "limited"


class TokenNameTaken(Exception):
    """A token with this name exists already."""


def create_token(name):
    """A new token for `name`; returns the token itself, which is stored only as its hash."""
    token = new_token()
    try:
        with db.database.atomic():
            ApiToken.create(name=name, token_hash=digest(token))
            audit.record("api_token.created", subject=name, after={"name": name})
    except IntegrityError:
        raise TokenNameTaken(name) from None
    return token


def revoke_token(name):
    """Delete the token called `name`; False when there was none."""
    with db.database.atomic():
        revoked = ApiToken.delete().where(ApiToken.name == name).execute() == 1
        if revoked:
            audit.record("api_token.revoked", subject=name, before={"name": name})
    return revoked


def use_token(token, limit, now=None):
    """ALLOWED (and counted), INVALID (no such token) or LIMITED (over `limit` requests this window).

    One conditional UPDATE checks the token and counts the request, so concurrent requests cannot
    both take the last slot of a window.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return INVALID
    token_hash = digest(token)
    now = now or utcnow()
    fresh = ApiToken.window_started_at.is_null() | (ApiToken.window_started_at <= now - RATE_WINDOW)
    counted = (
        ApiToken.update(
            window_started_at=Case(None, [(fresh, now)], ApiToken.window_started_at),
            window_count=Case(None, [(fresh, 1)], ApiToken.window_count + 1),
            last_used_at=now,
        )
        .where((ApiToken.token_hash == token_hash) & (fresh | (ApiToken.window_count < limit)))
        .execute()
    )
    if counted == 1:
        return ALLOWED
    exists = ApiToken.select(ApiToken.id).where(ApiToken.token_hash == token_hash).exists()
    return LIMITED if exists else INVALID


def retry_after(token, now=None):
    """Seconds until the token's window ends (at least 1)."""
    row = ApiToken.get_or_none(ApiToken.token_hash == digest(token))
    if row is None or row.window_started_at is None:
        return 1
    left = row.window_started_at + RATE_WINDOW - (now or utcnow())
    return max(1, int(left.total_seconds()) + 1)
