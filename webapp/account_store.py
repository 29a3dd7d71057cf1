"""Staff-side changes that carry their intent: each sets a state, never flips one.

Each is one conditional UPDATE from the other state; its row count says whether this call made the
change. A repeat, or the second of two admins clicking at once, changes nothing and says so. A
change that happened is recorded (AccountChange, ReviewEvent) in the same transaction, so billing
can tell what an account and its proof looked like at any cycle's start. Suspending an account or
removing a user's authorization also ends the sessions it concerns, in the same transaction: nobody
stays signed in on a right they lost.
"""
from peewee import JOIN, fn

from .extensions import db
from .models import (
    AccessToken,
    Account,
    AccountChange,
    License,
    LicenseVersion,
    ProofCheck,
    ReviewEvent,
    User,
    on_postgresql,
    utcnow,
    write_transaction,
)
from .sessions import end_sessions_of_account, end_sessions_of_user
from .tokens import issue


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
    return changed


def set_authorization(user_id, authorized):
    """Authorize a customer user or remove the authorization; False when it already was so."""
    with _change_transaction():
        changed = _changed(
            User.update(is_authorized=authorized).where(
                (User.id == user_id) & (User.is_admin == False) & (User.is_authorized == (not authorized))  # noqa: E712
            )
        )
        if changed and not authorized:
            end_sessions_of_user(user_id)
    return changed


def review_version(version_id, decision, reason="", actor=None, only_pending=False):
    """Accept or reject a version's proof, recording the review with the state it replaced.

    With `only_pending`, a version already reviewed (by another admin, or a second click) is left
    alone and False comes back, so the queue never records or emails one review twice.
    """
    reason = reason if decision == LicenseVersion.REJECTED else ""
    with write_transaction():
        before = LicenseVersion.select(LicenseVersion.review_status).where(LicenseVersion.id == version_id)
        before = before.for_update() if on_postgresql() else before
        before = before.first()
        if before is None or (only_pending and before.review_status != LicenseVersion.PENDING):
            return False
        now = utcnow()
        LicenseVersion.update(review_status=decision, review_reason=reason, reviewed_at=now).where(
            LicenseVersion.id == version_id
        ).execute()
        ReviewEvent.create(
            version=version_id,
            previous_status=before.review_status,
            review_status=decision,
            review_reason=reason,
            reviewed_by=actor,
            reviewed_at=now,
        )
    return True


def _changed(update):
    return update.execute() == 1


# --- invitations and deactivation -------------------------------------------------------------

INVITED = "invited"
INVITED_AGAIN = "invited again"
ELSEWHERE = "elsewhere"
# The password of an invited user who has not set one yet: no hash matches it.
NO_PASSWORD = "!"


def invite_user(account_id, email, name, authorized, valid_for, now):
    """Create the customer user (or find this account's own) and issue an invitation token.

    Returns (outcome, user, token): INVITED for a new user, INVITED_AGAIN for a user of this
    account (a deactivated one is reactivated; the earlier link stops working), ELSEWHERE with no
    token when the email belongs to staff or another account's user.
    """
    with write_transaction():
        user = User.select().where(User.email == email)
        user = (user.for_update() if on_postgresql() else user).first()
        if user is not None and (user.is_admin or user.account_id != account_id):
            return ELSEWHERE, user, None
        if user is None:
            user = User.create(email=email, name=name, account=account_id, is_authorized=authorized,
                               password_hash=NO_PASSWORD)
            outcome = INVITED
        else:
            User.update(deactivated_at=None).where(User.id == user.id).execute()
            user.deactivated_at = None
            outcome = INVITED_AGAIN
        token = issue(user.id, AccessToken.INVITE, valid_for, now)
    return outcome, user, token


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
        if changed and deactivated:
            end_sessions_of_user(user_id)
            AccessToken.update(used_at=now).where(
                (AccessToken.user == user_id) & AccessToken.used_at.is_null()
            ).execute()
    return changed


# --- whom a customer can ask -------------------------------------------------------------------

# The Users panel and the refusal page name people, not a directory: past this many, "and others".
AUTHORIZED_USERS_SHOWN = 20


def authorized_users_of(account_id, limit=AUTHORIZED_USERS_SHOWN):
    """Up to limit + 1 active, authorized customer users of the account, alphabetical; scoped in the query."""
    return list(
        User.select(User.id, User.name, User.email)
        .where(
            (User.account == account_id)
            & (User.is_authorized == True)  # noqa: E712
            & (User.is_admin == False)  # noqa: E712
            & User.deactivated_at.is_null()
        )
        # Alphabetical as shown: by name, or by email for a user with no name.
        .order_by(fn.LOWER(fn.COALESCE(fn.NULLIF(User.name, ""), User.email)), User.email)
        .limit(limit + 1)
    )


def review_queue():
    """Every license's current version whose proof awaits review, across accounts, oldest first, with its
    document check (`version.check`, None before the check existed), in one query."""
    return (
        LicenseVersion.select(LicenseVersion, License, Account, ProofCheck)
        .join(License, on=(License.current == LicenseVersion.id))
        .join(Account)
        .switch(LicenseVersion)
        .join(ProofCheck, JOIN.LEFT_OUTER, on=(ProofCheck.version == LicenseVersion.id), attr="check")
        .where(LicenseVersion.review_status == LicenseVersion.PENDING)
        .order_by(LicenseVersion.submitted_at, LicenseVersion.id)
    )
