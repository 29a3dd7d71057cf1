"""Staff-side changes that carry their intent: each sets a state, never flips one.

Each is one conditional UPDATE from the other state; its row count says whether this call made the
change. A repeat, or the second of two admins clicking at once, changes nothing and says so. A
change that happened is recorded (AccountChange) in the same transaction, so billing can tell what
an account looked like at any cycle's start. Suspending an account or
removing a user's authorization also ends the sessions it concerns, in the same transaction: nobody
stays signed in on a right they lost.
"""
from .. import audit
from ..extensions import db
from ..identity.models import AccessToken
from ..identity.sessions import end_sessions_of_account, end_sessions_of_user
from .models import Account, AccountChange, User


def _change_transaction():
    # The UPDATE is the first statement, so it takes the write lock itself (no read to upgrade from).
    return db.database.atomic()


def _flag(enrolled):
    return "byol" if enrolled else "subscription"


def set_account_status(account_id, status, actor=None):
    """Suspend or reactivate an account; False when it already had `status`."""
    previous = Account.ACTIVE if status == Account.SUSPENDED else Account.SUSPENDED
    with _change_transaction():
        changed = _changed(
            Account.update(status=status).where((Account.id == account_id) & (Account.status == previous))
        )
        if changed:
            AccountChange.create(
                account=account_id, field=AccountChange.STATUS, previous=previous, value=status, changed_by=actor
            )
            kind = "account.suspended" if status == Account.SUSPENDED else "account.reactivated"
            audit.record(kind, account=account_id, subject=_account_name(account_id),
                         before={"status": previous}, after={"status": status})
            if status == Account.SUSPENDED:
                end_sessions_of_account(account_id)
    return changed


def set_enrollment(account_id, enrolled, actor=None):
    """Enroll an account in BYOL or switch it to provider subscription; False when it already was."""
    with _change_transaction():
        changed = _changed(
            Account.update(byol_enrolled=enrolled).where(
                (Account.id == account_id) & (Account.byol_enrolled == (not enrolled))
            )
        )
        if changed:
            AccountChange.create(
                account=account_id,
                field=AccountChange.ENROLLMENT,
                previous=_flag(not enrolled),
                value=_flag(enrolled),
                changed_by=actor,
            )
            audit.record("account.byol_switched", account=account_id, subject=_account_name(account_id),
                         before={"enrollment": _flag(not enrolled)}, after={"enrollment": _flag(enrolled)})
    return changed


def _account_name(account_id):
    return Account.select(Account.name).where(Account.id == account_id).scalar() or ""


def _record_user_change(kind, user_id, before, after):
    """An audit entry about a customer user, under their account, named by their email."""
    user = User.select(User.email, User.account).where(User.id == user_id).first()
    audit.record(kind, account=user.account_id, subject=user.email, before=before, after=after)


def set_authorization(user_id, authorized):
    """Authorize a customer user or remove the authorization; False when it already was so."""
    with _change_transaction():
        changed = _changed(
            User.update(is_authorized=authorized).where(
                (User.id == user_id) & (User.is_admin == False) & (User.is_authorized == (not authorized))  # noqa: E712
            )
        )
        if changed:
            _record_user_change("user.authorized" if authorized else "user.unauthorized", user_id,
                                {"is_authorized": not authorized}, {"is_authorized": authorized})
        if changed and not authorized:
            end_sessions_of_user(user_id)
    return changed


def _changed(update):
    return update.execute() == 1


def set_deactivated(user_id, deactivated, now):
    """Deactivate a customer user (sessions and unused links end; rows stay) or reactivate one.

    False when the user already was so.
    """
    with _change_transaction():
        condition = User.deactivated_at.is_null() if deactivated else User.deactivated_at.is_null(False)
        changed = _changed(
            User.update(deactivated_at=now if deactivated else None).where(
                (User.id == user_id) & (User.is_admin == False) & condition  # noqa: E712
            )
        )
        if changed:
            _record_user_change("user.deactivated" if deactivated else "user.reactivated", user_id,
                                {"deactivated": not deactivated}, {"deactivated": deactivated})
        if changed and deactivated:
            end_sessions_of_user(user_id)
            AccessToken.update(used_at=now).where(
                (AccessToken.user == user_id) & AccessToken.used_at.is_null()
            ).execute()
    return changed
