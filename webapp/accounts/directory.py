"""Whom a customer can ask: the authorized users of their own account."""
from typing import NamedTuple

from peewee import fn

from ..core.compiled_sql import CompiledSelect, RowShape, placeholder
from .models import User

# The Users panel and the refusal page name people, not a directory: past this many, "and others".
AUTHORIZED_USERS_SHOWN = 20


class AuthorizedUser(NamedTuple):
    id: int
    name: str
    email: str


_AUTHORIZED_USER = RowShape(AuthorizedUser, User.id, User.name, User.email)

# Built once (see compiled_sql): the Client Licenses tab asks on every full page.
_AUTHORIZED_USERS = CompiledSelect(_AUTHORIZED_USER, lambda: (
    User.select(*_AUTHORIZED_USER.columns)
    .where(
        (User.account == placeholder("account_id"))
        & (User.is_authorized == True)  # noqa: E712
        & (User.is_admin == False)  # noqa: E712
        & User.deactivated_at.is_null()
    )
    # Alphabetical as shown: by name, or by email for a user with no name.
    .order_by(fn.LOWER(fn.COALESCE(fn.NULLIF(User.name, ""), User.email)), User.email)
    .limit(placeholder("limit"))
))


def authorized_users_of(account_id, limit=AUTHORIZED_USERS_SHOWN):
    """Up to limit + 1 active, authorized customer users of the account, alphabetical; scoped in the query."""
    return _AUTHORIZED_USERS.run(account_id=account_id, limit=limit + 1)
