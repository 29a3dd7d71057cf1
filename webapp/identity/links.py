"""Single-use links to Set password: a random token in the link, only its SHA-256 in the database.

A token is used up by one conditional UPDATE (not used, not expired, right purpose) whose row count
decides, so two clicks on one link cannot both set a password. Issuing a new token for a user ends
every earlier unused one of theirs, whatever its purpose: a new reset link ends an invitation's, and
the other way round. Every password change, by any path, ends them all too (`end_links_of_user`,
called from `sessions.change_password`): a link made for the old password sets no new one.
Every function takes `now`, so expiry is tested with an injected clock.
"""
from dataclasses import dataclass

from peewee import JOIN

from ..accounts.models import Account, User
from ..core.secret_tokens import digest, new_token
from .models import AccessToken

# What a refused link's page says happened.
UNKNOWN = "unknown"
USED = "used"
EXPIRED = "expired"


def issue(user_id, purpose, valid_for, now, token=None):
    """Record a token for the user and purpose, ending the user's earlier unused ones (of any purpose);
    returns the token."""
    token = token or new_token()
    end_links_of_user(user_id, now)
    AccessToken.create(token_hash=digest(token), purpose=purpose, user=user_id, created_at=now,
                       expires_at=now + valid_for)
    return token


@dataclass(frozen=True)
class Lookup:
    """A link as found: its row and user when it may be used, else why not (UNKNOWN, USED, EXPIRED)."""

    row: AccessToken | None
    refusal: str | None


def find(token, now):
    """The token's row with its user and account, and whether it may still be used; writes nothing."""
    if not isinstance(token, str) or not 20 <= len(token) <= 128:
        return Lookup(None, UNKNOWN)
    row = (
        AccessToken.select(AccessToken, User, Account)
        .join(User)
        .join(Account, JOIN.LEFT_OUTER)
        .where(AccessToken.token_hash == digest(token))
        .first()
    )
    if row is None or row.user.is_deactivated:
        return Lookup(None, UNKNOWN)
    if row.used_at is not None:
        return Lookup(row, USED)
    if row.expires_at <= now:
        return Lookup(row, EXPIRED)
    return Lookup(row, None)


def use(token, now):
    """Use the token up; True only for the one caller whose UPDATE changed its row."""
    return AccessToken.update(used_at=now).where(
        (AccessToken.token_hash == digest(token))
        & AccessToken.used_at.is_null()
        & (AccessToken.expires_at > now)
    ).execute() == 1


def issue_for_nobody(token, valid_for, now):
    """What Forgot password does for an email with no user, statement for statement as issue() does:
    an UPDATE (of the token's digest, which ends nothing) and, in place of the INSERT, a DELETE of
    the links spent long ago. The answer then costs the same work whether or not the email is known."""
    AccessToken.update(used_at=now).where(
        (AccessToken.token_hash == digest(token)) & AccessToken.used_at.is_null()
    ).execute()
    purge_spent(now, valid_for)


def end_links_of_user(user_id, now):
    """Use up every unused link of the user (reset and invitation alike); returns how many there were."""
    return AccessToken.update(used_at=now).where(
        (AccessToken.user == user_id) & AccessToken.used_at.is_null()
    ).execute()


def purge_spent(now, keep_for):
    """Delete tokens used or expired more than `keep_for` ago; returns how many."""
    return AccessToken.delete().where(
        (AccessToken.expires_at <= now - keep_for) | (AccessToken.used_at <= now - keep_for)
    ).execute()
