"""Bearer tokens for the billing API: created once and shown once, kept only as a SHA-256, and
rate-limited per token by core.limiter."""
from datetime import timedelta

from peewee import IntegrityError

from .. import audit
from ..core import limiter
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


def _rate_key(token_hash):
    return limiter.key("api-token", token_hash)


def use_token(token, limit, now=None):
    """ALLOWED (and counted), INVALID (no such token) or LIMITED (over `limit` requests this window).

    The count is core.limiter's, per token over RATE_WINDOW: a read first, so a refused request
    writes nothing, then an atomic upsert whose count decides, so concurrent requests cannot both
    take the last slot of a window.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return INVALID
    token_hash = digest(token)
    now = now or utcnow()
    if not ApiToken.select(ApiToken.id).where(ApiToken.token_hash == token_hash).exists():
        return INVALID
    wait, _ = limiter.admit(((_rate_key(token_hash), limit),), RATE_WINDOW, now)
    if wait is not None:
        return LIMITED
    ApiToken.update(last_used_at=now).where(ApiToken.token_hash == token_hash).execute()
    return ALLOWED


def retry_after(token, now=None):
    """The Retry-After value of a LIMITED token: the seconds until its window ends (at least 1)."""
    return limiter.retry_after(limiter.window_left(_rate_key(digest(token)), RATE_WINDOW, now))
