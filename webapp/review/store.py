"""Staff review of proof: accepting or rejecting a version, and the queue of versions awaiting review.

A review is recorded with the state it replaced (ReviewEvent) in the same transaction, so billing can
tell what a version's review state was at any cycle's start.
"""
from datetime import date, datetime
from typing import NamedTuple

from peewee import JOIN

from .. import audit
from ..accounts.models import Account, User
from ..core.clock import utcnow
from ..core.compiled_sql import CompiledSelect, RowShape, placeholder, rows_of
from ..core.database import on_postgresql, write_transaction
from ..licenses.models import (
    License,
    LicenseVersion,
    ProofCheck,
    ProofDocument,
    ProofPreview,
)
from .models import ReviewEvent


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
    # The document's active content (licenses.document_text.ACTIVE_KINDS, comma-separated), "" for none.
    active_content: str
    # Saved anyway against a document that says otherwise, and what the customer told staff then.
    saved_anyway: bool
    customer_note: str
    license: QueuedLicense
    check: "QueuedCheck | None"
    preview: "QueuedPreview | None"


class QueuedPreview(NamedTuple):
    """Whether the document has a preview (None: not made yet); `media_type` "" when none could be made."""

    id: int
    media_type: str
    width: int
    height: int


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


_QUEUED_VERSION = RowShape(
    QueuedVersion, LicenseVersion.id, LicenseVersion.submitted_at, LicenseVersion.seats, LicenseVersion.expires_on,
    LicenseVersion.tenant, LicenseVersion.proof, ProofDocument.active_content, LicenseVersion.saved_anyway,
    LicenseVersion.customer_note,
    license=RowShape(QueuedLicense, License.id, License.plan, account=RowShape(QueuedAccount, Account.id, Account.name)),
    check=RowShape(
        QueuedCheck, ProofCheck.id, ProofCheck.status, ProofCheck.plan, ProofCheck.plan_seen, ProofCheck.seats,
        ProofCheck.seats_seen, ProofCheck.expires_on, ProofCheck.expires_on_seen, ProofCheck.tenant,
        ProofCheck.tenant_seen,
        optional=True,
    ),
    preview=RowShape(
        QueuedPreview, ProofPreview.document.alias("id"), ProofPreview.media_type, ProofPreview.width,
        ProofPreview.height, optional=True,
    ),
)

def _queued_versions(license_join):
    """The queue's columns of versions, with their license joined `on` the given condition."""
    return (
        LicenseVersion.select(*_QUEUED_VERSION.columns)
        .join(License, on=license_join)
        .join(Account)
        .switch(LicenseVersion)
        .join(ProofCheck, JOIN.LEFT_OUTER, on=(ProofCheck.version == LicenseVersion.id))
        .switch(LicenseVersion)
        .join(ProofDocument, on=(ProofDocument.id == LicenseVersion.proof))
        .join(ProofPreview, JOIN.LEFT_OUTER, on=(ProofPreview.document == ProofDocument.id))
    )


# Only the columns the queue shows, in one statement built once (see compiled_sql).
_REVIEW_QUEUE = CompiledSelect(_QUEUED_VERSION, lambda: (
    _queued_versions(License.current == LicenseVersion.id)
    .where((LicenseVersion.review_status == LicenseVersion.PENDING) & License.retired_at.is_null())
    .order_by(LicenseVersion.submitted_at, LicenseVersion.id)
))
# One version as a row of the queue shows it (a review posted from the queue comes back as its row).
_QUEUED = CompiledSelect(_QUEUED_VERSION, lambda: (
    _queued_versions(License.id == LicenseVersion.license).where(LicenseVersion.id == placeholder("version_id"))
))


def review_queue():
    """Every license's current version whose proof awaits review, across accounts, oldest first, with its
    document check (`version.check`, None before the check existed), in one query.

    A plan the customer removed is left out: no cycle still to be decided counts it.
    """
    return _REVIEW_QUEUE.run()


def queued_version(version_id):
    """One version (of any review state) as a row of the queue, or None."""
    rows = _QUEUED.run(version_id=version_id)
    return rows[0] if rows else None


class AwaitingRemoval(NamedTuple):
    """A lapsed plan whose removal the customer asked for, as the review queue shows it."""

    id: int
    account_id: int
    account_name: str
    plan: str
    removal_requested_at: datetime
    requested_by: str | None
    seats: int
    expires_on: date
    review_status: str
    review_reason: str


_AWAITING_REMOVAL = RowShape(
    AwaitingRemoval, License.id, License.account, Account.name.alias("account_name"), License.plan,
    License.removal_requested_at, User.email.alias("requested_by"), LicenseVersion.seats,
    LicenseVersion.expires_on, LicenseVersion.review_status, LicenseVersion.review_reason,
)


def removals_awaiting():
    """Every plan whose removal awaits staff confirmation, across accounts, oldest request first."""
    query = (
        License.select(*_AWAITING_REMOVAL.columns)
        .join(Account, on=(License.account == Account.id))
        .switch(License)
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .switch(License)
        .join(User, JOIN.LEFT_OUTER, on=(License.removal_requested_by == User.id))
        .where(License.removal_requested_at.is_null(False) & License.retired_at.is_null())
        .order_by(License.removal_requested_at, License.id)
    )
    return list(rows_of(query, _AWAITING_REMOVAL))
