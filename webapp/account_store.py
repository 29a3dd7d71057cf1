"""Staff-side changes that carry their intent: each sets a state, never flips one.

Each is one conditional UPDATE from the other state; its row count says whether this call made the
change. A repeat, or the second of two admins clicking at once, changes nothing and says so. A
change that happened is recorded (AccountChange, ReviewEvent) in the same transaction, so billing
can tell what an account and its proof looked like at any cycle's start. Suspending an account or
removing a user's authorization also ends the sessions it concerns, in the same transaction: nobody
stays signed in on a right they lost.
"""
from datetime import date, datetime
from typing import NamedTuple

from peewee import JOIN, fn

from . import audit
from .compiled_sql import CompiledSelect, placeholder
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
        license = (
            License.select(License.account, License.plan)
            .join(LicenseVersion, on=(LicenseVersion.license == License.id))
            .where(LicenseVersion.id == version_id)
            .first()
        )
        after = {"review_status": decision, "review_reason": reason} if reason else {"review_status": decision}
        audit.record("proof.reviewed", account=license.account_id, subject=license.plan,
                     before={"review_status": before.review_status}, after=after)
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
            audit.record("user.invited", account=account_id, subject=email,
                         after={"email": email, "name": name, "is_authorized": authorized})
        else:
            was_deactivated = user.deactivated_at is not None
            User.update(deactivated_at=None).where(User.id == user.id).execute()
            user.deactivated_at = None
            outcome = INVITED_AGAIN
            audit.record("user.invited", account=account_id, subject=email,
                         before={"deactivated": True} if was_deactivated else None,
                         after={"invitation": "sent again", **({"deactivated": False} if was_deactivated else {})})
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
        if changed:
            _record_user_change("user.deactivated" if deactivated else "user.reactivated", user_id,
                                {"deactivated": not deactivated}, {"deactivated": deactivated})
        if changed and deactivated:
            end_sessions_of_user(user_id)
            AccessToken.update(used_at=now).where(
                (AccessToken.user == user_id) & AccessToken.used_at.is_null()
            ).execute()
    return changed


# --- whom a customer can ask -------------------------------------------------------------------

# The Users panel and the refusal page name people, not a directory: past this many, "and others".
AUTHORIZED_USERS_SHOWN = 20


class AuthorizedUser(NamedTuple):
    id: int
    name: str
    email: str


# Built once (see compiled_sql): the Client Licenses tab asks on every full page.
_AUTHORIZED_USERS = CompiledSelect(lambda: (
    User.select(User.id, User.name, User.email)
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
    return [AuthorizedUser(*row) for row in _AUTHORIZED_USERS.run(account_id=account_id, limit=limit + 1)]


class QueuedAccount(NamedTuple):
    id: int
    name: str


class QueuedLicense(NamedTuple):
    id: int
    plan: str
    account: QueuedAccount


class QueuedVersion(NamedTuple):
    """A version awaiting review, as the queue shows it; shaped like the model (version.license.account.name)."""

    id: int
    submitted_at: datetime
    seats: int
    expires_on: date
    tenant: str
    proof_id: int
    license: QueuedLicense
    check: "QueuedCheck | None"


class QueuedCheck(NamedTuple):
    """A version's document check (ProofCheck) as the queue shows it."""

    id: int
    status: str
    plan: str
    plan_seen: str
    seats: str
    seats_seen: str
    expires_on: str
    expires_on_seen: str
    tenant: str
    tenant_seen: str


# Only the columns the queue shows, in one statement built once (see compiled_sql).
_REVIEW_QUEUE = CompiledSelect(lambda: (
    LicenseVersion.select(
        LicenseVersion.id, LicenseVersion.submitted_at, LicenseVersion.seats, LicenseVersion.expires_on,
        LicenseVersion.tenant, LicenseVersion.proof, License.id, License.plan, Account.id, Account.name,
        ProofCheck.id, ProofCheck.status, ProofCheck.plan, ProofCheck.plan_seen, ProofCheck.seats,
        ProofCheck.seats_seen, ProofCheck.expires_on, ProofCheck.expires_on_seen, ProofCheck.tenant,
        ProofCheck.tenant_seen,
    )
    .join(License, on=(License.current == LicenseVersion.id))
    .join(Account)
    .switch(LicenseVersion)
    .join(ProofCheck, JOIN.LEFT_OUTER, on=(ProofCheck.version == LicenseVersion.id))
    .where((LicenseVersion.review_status == LicenseVersion.PENDING) & License.retired_at.is_null())
    .order_by(LicenseVersion.submitted_at, LicenseVersion.id)
))


def review_queue():
    """Every license's current version whose proof awaits review, across accounts, oldest first, with its
    document check (`version.check`, None before the check existed), in one query.

    A plan the customer removed is left out: no cycle still to be decided counts it.
    """
    return [
        QueuedVersion(
            *row[:6],
            QueuedLicense(row[6], row[7], QueuedAccount(*row[8:10])),
            QueuedCheck(*row[10:]) if row[10] is not None else None,
        )
        for row in _REVIEW_QUEUE.run()
    ]
