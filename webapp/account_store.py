"""Staff-side changes that carry their intent: each sets a state, never flips one.

Each is one conditional UPDATE from the other state; its row count says whether this call made the
change. A repeat, or the second of two admins clicking at once, changes nothing and says so.
Suspending an account or removing a user's authorization also ends the sessions it concerns, in
the same transaction: nobody stays signed in on a right they lost.
"""
from .extensions import db
from .models import Account, User
from .sessions import end_sessions_of_account, end_sessions_of_user


def set_account_status(account_id, status):
    """Suspend or reactivate an account; False when it already had `status`."""
    previous = Account.ACTIVE if status == Account.SUSPENDED else Account.SUSPENDED
    with db.database.atomic():
        changed = _changed(
            Account.update(status=status).where((Account.id == account_id) & (Account.status == previous))
        )
        if changed and status == Account.SUSPENDED:
            end_sessions_of_account(account_id)
    return changed


def set_enrollment(account_id, enrolled):
    """Enroll an account in BYOL or switch it to provider subscription; False when it already was."""
    return _changed(
        Account.update(byol_enrolled=enrolled).where(
            (Account.id == account_id) & (Account.byol_enrolled == (not enrolled))
        )
    )


def set_authorization(user_id, authorized):
    """Authorize a customer user or remove the authorization; False when it already was so."""
    with db.database.atomic():
        changed = _changed(
            User.update(is_authorized=authorized).where(
                (User.id == user_id) & (User.is_admin == False) & (User.is_authorized == (not authorized))  # noqa: E712
            )
        )
        if changed and not authorized:
            end_sessions_of_user(user_id)
    return changed


def _changed(update):
    return update.execute() == 1
