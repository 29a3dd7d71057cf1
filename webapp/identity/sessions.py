"""Server-side sessions: each sign-in is a row, and the cookie carries only a random id for it.

The database keeps the SHA-256 of the id, never the id. Loading the signed-in user is one query:
the session row joined to its user and account, with the idle timeout and the absolute lifetime
checked in the WHERE clause. Deleting rows ends sessions at once, on every server.
"""
from datetime import datetime, timedelta
from typing import NamedTuple

from peewee import JOIN

from ..accounts.models import Account, User
from ..core import clock
from ..core.clock import utcnow
from ..core.compiled_sql import CompiledSelect, RowShape, placeholder
from ..core.secret_tokens import digest, new_token
from ..extensions import db
from . import links
from .models import LoginSession

# last_seen_at is refreshed when older than this, so most requests only read; the idle timeout is
# therefore exact to within a minute.
TOUCH_INTERVAL = timedelta(minutes=1)


def _printable(text):
    """Header text as it may be stored: a NUL or control character is dropped (PostgreSQL refuses NUL)."""
    return "".join(c for c in (text or "") if c.isprintable())


def start_session(user, ip_address="", user_agent=""):
    """Record a new sign-in for `user`; returns the random id the cookie carries."""
    token = new_token()
    LoginSession.create(
        id=digest(token),
        user=user.id,
        ip_address=_printable(ip_address)[:45],
        user_agent=_printable(user_agent)[:200],
    )
    user.session_token = token
    return token


class _SignIn(NamedTuple):
    """A live session's row, with its user (and the user's account) as models."""

    id: str
    last_seen_at: datetime
    second_factor_at: datetime | None
    pending_totp_secret: str | None
    user: User


_SIGN_IN = RowShape(
    _SignIn, LoginSession.id, LoginSession.last_seen_at, LoginSession.second_factor_at,
    LoginSession.pending_totp_secret,
    user=RowShape(User, *User._meta.sorted_fields,
                  account=RowShape(Account, *Account._meta.sorted_fields, optional=True)),
)

# The sign-in, its user and the user's account in one statement, built once (see compiled_sql).
_SESSION_USER = CompiledSelect(_SIGN_IN, lambda: (
    LoginSession.select(*_SIGN_IN.columns)
    .join(User)
    .join(Account, JOIN.LEFT_OUTER)
    .where(
        (LoginSession.id == placeholder("digest"))
        & (LoginSession.last_seen_at > placeholder("seen_after"))
        & (LoginSession.created_at > placeholder("created_after"))
        & User.deactivated_at.is_null()
    )
    .limit(1)
))


def load_session_user(token, idle_timeout, lifetime, now=None):
    """The user (with account) of a live session, or None; one indexed lookup, rarely a touch."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    now = now or utcnow()
    rows = _SESSION_USER.run(digest=digest(token), seen_after=now - idle_timeout, created_after=now - lifetime)
    if not rows:
        return None
    sign_in = rows[0]
    if sign_in.last_seen_at < now - min(TOUCH_INTERVAL, idle_timeout / 10):
        LoginSession.update(last_seen_at=now).where(LoginSession.id == sign_in.id).execute()
    user = sign_in.user
    user.session_token = token
    user.second_factor_at = sign_in.second_factor_at
    user.pending_totp_secret = sign_in.pending_totp_secret
    return user


def pass_second_factor(user, now=None):
    """Record that `user`'s sign-in passed the second factor; it goes on under a new random id, returned.

    The id the cookie carried until now stops working, so a copy of the cookie taken before the code
    was given signs nobody in. The enrolment page's secret is no longer needed and goes too.
    """
    token = new_token()
    LoginSession.update(id=digest(token), second_factor_at=now or utcnow(), pending_totp_secret=None).where(
        LoginSession.id == digest(user.session_token)
    ).execute()
    user.session_token = token
    return token


def hold_pending_secret(token, secret):
    """Keep the secret the enrolment page shows with this sign-in, until a first code confirms it."""
    LoginSession.update(pending_totp_secret=secret).where(LoginSession.id == digest(token)).execute()


def end_session(token):
    """End one session (logout); a replayed cookie then finds nothing."""
    if token:
        LoginSession.delete().where(LoginSession.id == digest(token)).execute()


def change_password(user, password, now=None):
    """Give `user` a new password, ending every session and every unused Set password link of theirs
    in the same transaction.

    Every path that changes a password goes through here (Set password from a reset or invitation
    link, Change password, `flask set-password`, the demo), so no sign-in and no link outlives the
    password it was made with.
    """
    user.set_password(password)
    with db.database.atomic():
        # Only the password: the signed-in user is read with its columns as stored, and saving them all
        # would seal the already-sealed authenticator secret once more.
        user.save(only=[User.password_hash])
        end_sessions_of_user(user.id)
        links.end_links_of_user(user.id, now or clock.now())


def end_sessions_of_user(user_id):
    """End every session of one user; returns how many there were."""
    return LoginSession.delete().where(LoginSession.user == user_id).execute()


def end_sessions_of_account(account_id):
    """End every session of every user of one account."""
    users = User.select(User.id).where(User.account == account_id)
    return LoginSession.delete().where(LoginSession.user.in_(users)).execute()


def purge_expired(idle_timeout, lifetime, now=None):
    """Delete the sessions past their idle timeout or lifetime; returns how many."""
    now = now or utcnow()
    return (
        LoginSession.delete()
        .where((LoginSession.last_seen_at <= now - idle_timeout) | (LoginSession.created_at <= now - lifetime))
        .execute()
    )
