"""Reading and writing licenses. Every lookup takes the account and filters by it inside the query."""
from dataclasses import replace
from datetime import date, datetime
from typing import NamedTuple

from peewee import JOIN, SQL, IntegrityError, NodeList, fn

from .. import audit
from ..accounts.models import User
from ..core.clock import business_date, utcnow
from ..core.compiled_sql import CompiledSelect, CompiledStatement, RowShape, placeholder, rows_of, value_reader
from ..core.database import on_postgresql, write_transaction
from ..extensions import db
from . import document_check as proof_text
from . import plans
from .document_text import READ, UNCHECKED, UNREADABLE
from .models import (
    License,
    LicenseVersion,
    Product,
    ProofCheck,
    ProofDocument,
    ProofPreview,
)
from .proofs import Upload, discard_unattached, store_upload, unused
from .rules import LicenseTerms, byol_status, counts_as_proof, license_status

PLAN_KEY_LENGTH = License.plan_key.max_length


class DuplicatePlan(Exception):
    """The account already has a license for this plan."""

    def __init__(self, existing):
        super().__init__(existing.plan)
        self.existing = existing


class ProofGone(Exception):
    """The kept upload a submission names was purged before the Save could use it."""


def plan_key(plan):
    """The plan name as compared for uniqueness (plans.plan_key), refused when too long to store."""
    key = plans.plan_key(plan)
    if not key or len(key) > PLAN_KEY_LENGTH:
        raise ValueError(f"a plan name must give a key of 1 to {PLAN_KEY_LENGTH} characters")
    return key


def products():
    """The products a license can be for, in drop-down order."""
    return list(Product.select().order_by(Product.position, Product.name))


def _licenses_query():
    return (
        License.select(License, LicenseVersion, Product, *ProofDocument.metadata_fields())
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .join(ProofDocument, on=(LicenseVersion.proof == ProofDocument.id))
        .switch(License)
        .join(Product)
    )


class ProductName(NamedTuple):
    id: int
    name: str


class ProofSummary(NamedTuple):
    """What a list of licenses shows of a proof document (never its content)."""

    id: int
    original_name: str
    size: int


class CurrentVersion(NamedTuple):
    """A license's current terms and review state, as a list of licenses shows them."""

    id: int
    seats: int
    term: str
    expires_on: date
    tenant: str
    contact_name: str
    contact_email: str
    review_status: str
    review_reason: str
    reviewed_at: datetime | None
    submitted_at: datetime
    saved_anyway: bool
    customer_note: str
    proof: ProofSummary

    @property
    def is_rejected(self):
        return self.review_status == LicenseVersion.REJECTED


class LicenseRow(NamedTuple):
    """One license of a list: read-only, shaped like the model (license.current.proof.original_name)."""

    id: int
    account_id: int
    plan: str
    removal_requested_at: datetime | None
    product: ProductName
    current: CurrentVersion

    @property
    def removal_awaiting_confirmation(self):
        return self.removal_requested_at is not None


_LICENSE_ROW = RowShape(
    LicenseRow, License.id, License.account, License.plan, License.removal_requested_at,
    product=RowShape(ProductName, Product.id, Product.name),
    current=RowShape(
        CurrentVersion, LicenseVersion.id, LicenseVersion.seats, LicenseVersion.term, LicenseVersion.expires_on,
        LicenseVersion.tenant, LicenseVersion.contact_name, LicenseVersion.contact_email,
        LicenseVersion.review_status, LicenseVersion.review_reason, LicenseVersion.reviewed_at,
        LicenseVersion.submitted_at, LicenseVersion.saved_anyway, LicenseVersion.customer_note,
        proof=RowShape(ProofSummary, ProofDocument.id, ProofDocument.original_name, ProofDocument.size),
    ),
)

# Only the columns the lists show, in one statement built once (see compiled_sql).
_LICENSE_ROWS = CompiledSelect(_LICENSE_ROW, lambda: (
    License.select(*_LICENSE_ROW.columns)
    .join(LicenseVersion, on=(License.current == LicenseVersion.id))
    .join(ProofDocument, on=(LicenseVersion.proof == ProofDocument.id))
    .switch(License)
    .join(Product)
    .where((License.account == placeholder("account_id")) & License.retired_at.is_null())
    .order_by(LicenseVersion.expires_on, License.plan_key, License.id)
))


def licenses_of(account_id):
    """The account's licenses not removed (LicenseRow) with their current terms, product and proof metadata, in one query."""
    return _LICENSE_ROWS.run(account_id=account_id)


def license_of(account_id, license_id, include_retired=False):
    """One license of the account, or None (also when it belongs to another account).

    A removed license is None too, unless `include_retired`: then it comes with who removed it.
    """
    query = _licenses_query().where((License.account == account_id) & (License.id == license_id))
    if not include_retired:
        return query.where(License.retired_at.is_null()).first()
    return (
        query.select_extend(User.id, User.email, User.name)
        .switch(License)
        .join(User, JOIN.LEFT_OUTER, on=(License.retired_by == User.id))
        .first()
    )


def retired_licenses_of(account_id):
    """The account's removed licenses, latest removal first, with their last terms and who removed them."""
    return list(
        _licenses_query()
        .select_extend(User.id, User.email, User.name)
        .switch(License)
        .join(User, JOIN.LEFT_OUTER, on=(License.retired_by == User.id))
        .where((License.account == account_id) & License.retired_at.is_null(False))
        .order_by(License.retired_at.desc(), License.id.desc())
    )


def history_of(license):
    """Every version of a license, newest first, with its proof's metadata and check (`version.check`), and
    whether its proof has a preview (`version.proof.shown_preview.media_type`: None when none was made yet)."""
    return list(
        LicenseVersion.select(
            LicenseVersion, *ProofDocument.metadata_fields(), ProofCheck,
            ProofPreview.document, ProofPreview.media_type, ProofPreview.width, ProofPreview.height,
        )
        .join(ProofDocument)
        .join(ProofPreview, JOIN.LEFT_OUTER, on=(ProofPreview.document == ProofDocument.id), attr="shown_preview")
        .switch(LicenseVersion)
        .join(ProofCheck, JOIN.LEFT_OUTER, on=(ProofCheck.version == LicenseVersion.id), attr="check")
        .where(LicenseVersion.license == license.id)
        .order_by(LicenseVersion.submitted_at.desc(), LicenseVersion.id.desc())
    )


def proof_of(account_id, document_id):
    """A proof document of the account, content included, or None."""
    return ProofDocument.get_or_none(
        (ProofDocument.id == document_id) & (ProofDocument.account == account_id)
    )


def kept_proof(account_id, document_id):
    """An upload of the account from an earlier try that no license uses yet, or None (also for no id)."""
    if document_id is None:
        return None
    return (
        ProofDocument.select(*ProofDocument.metadata_fields())
        .where((ProofDocument.id == document_id) & (ProofDocument.account == account_id) & unused())
        .first()
    )


def terms_of(license, timezone_name, must_be_accepted=False):
    """The domain's view of a license loaded by licenses_of() (or a License model with its current version).

    A rejection is dated by the business calendar: at 22:00 in New York it is still that day there,
    though UTC, which reviewed_at is stored in, has moved on (and so would the billing cycle).
    `must_be_accepted` is the provider's PROOF_MUST_BE_ACCEPTED.
    """
    version = license.current
    return _terms(license.plan, version.seats, version.expires_on, version.review_status, version.reviewed_at,
                  timezone_name, saved_anyway=version.saved_anyway, submitted_at=version.submitted_at,
                  must_be_accepted=must_be_accepted, removal_requested_at=license.removal_requested_at)


def _terms(plan, seats, expires_on, review_status, reviewed_at, timezone_name, *, saved_anyway=False,
           submitted_at=None, must_be_accepted=False, removal_requested_at=None):
    rejected = review_status == LicenseVersion.REJECTED
    rejected_on = business_date(reviewed_at, timezone_name) if rejected and reviewed_at else None
    unaccepted = not rejected and not counts_as_proof(review_status, saved_anyway, must_be_accepted)
    unaccepted_on = business_date(submitted_at, timezone_name) if unaccepted and submitted_at else None
    return LicenseTerms(plan=plan, seats=seats, expires_on=expires_on, rejected=rejected, rejected_on=rejected_on,
                        unaccepted=unaccepted, unaccepted_on=unaccepted_on,
                        removal_awaiting=removal_requested_at is not None)


class _TermsRow(NamedTuple):
    """What the BYOL roll-up reads of a license."""

    account_id: int
    plan: str
    seats: int
    expires_on: date
    review_status: str
    reviewed_at: datetime | None
    saved_anyway: bool
    submitted_at: datetime
    removal_requested_at: datetime | None


_TERMS_ROW = RowShape(_TermsRow, License.account, License.plan, LicenseVersion.seats, LicenseVersion.expires_on,
                      LicenseVersion.review_status, LicenseVersion.reviewed_at, LicenseVersion.saved_anyway,
                      LicenseVersion.submitted_at, License.removal_requested_at)


def _terms_query(account_ids):
    return (
        License.select(*_TERMS_ROW.columns)
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .where(License.account.in_(account_ids) & License.retired_at.is_null())
        .order_by(License.plan_key)
    )


def terms_by_account(account_ids, timezone_name, must_be_accepted=False):
    """{account id: [LicenseTerms]} of every license of the accounts, in one query of only what the roll-up
    reads: a reminder run's batch states each account's whole position (its BYOL users, every plan that
    needs proof), so it reads all of an account's licenses, not licenses_by_account's deciding ones.
    Rows read straight from the cursor (compiled_sql.rows_of), not models. A date that is not one is left
    as it is, as Peewee leaves it, so only its own account's roll-up fails.
    """
    by_account = {}
    for row in rows_of(_terms_query(account_ids), _TERMS_ROW):
        by_account.setdefault(row.account_id, []).append(
            _terms(row.plan, row.seats, row.expires_on, row.review_status, row.reviewed_at, timezone_name,
                   saved_anyway=bool(row.saved_anyway), submitted_at=row.submitted_at,
                   must_be_accepted=must_be_accepted, removal_requested_at=row.removal_requested_at)
        )
    return by_account


class _DecidingRow(NamedTuple):
    """A license that can decide its account's BYOL standing, with its account's totals."""

    account_id: int
    plan: str
    seats: int
    expires_on: date
    review_status: str
    reviewed_at: datetime | None
    saved_anyway: bool
    submitted_at: datetime
    removal_requested_at: datetime | None
    licenses: int
    seats_total: int
    earliest: date


class AccountLicenses(NamedTuple):
    """What the staff accounts list needs of an account's licenses: how many, their seats, the earliest
    expiration, and the licenses that decide its BYOL standing (`deciding`, as LicenseTerms)."""

    licenses: int
    seats: int
    earliest: date | None
    deciding: list


_NO_LICENSES = AccountLicenses(0, 0, None, [])


def _plan_order(license_model):
    """The plan as Python orders text (by code point), as byol_status breaks ties between licenses.

    SQLite compares text byte by byte (UTF-8 keeps code point order); PostgreSQL by the database's
    locale unless told otherwise.
    """
    plan = license_model.plan
    return NodeList((plan, SQL('COLLATE "C"'))) if on_postgresql() else plan


def _not_a_stored_date(column):
    """On SQLite, whose columns take any text, a date that is not in the form Peewee writes; never on
    PostgreSQL, whose date column holds dates only."""
    if on_postgresql():
        return SQL("FALSE")
    return fn.date(column).is_null() | (fn.date(column) != column)


def _proof_counts(version):
    """SQL for rules.counts_as_proof of a version; the placeholder `must_be_accepted` is PROOF_MUST_BE_ACCEPTED."""
    return (version.review_status == LicenseVersion.ACCEPTED) | (
        (version.review_status == LicenseVersion.PENDING) & (version.saved_anyway == False)  # noqa: E712
        & ~placeholder("must_be_accepted")
    )


def _deciding_query(account_ids):
    other, its_version = License.alias(), LicenseVersion.alias()
    # Per account: the first license whose proof counts, by (expiration, plan), a lookup through the
    # account's own licenses; every license is read once more below, as the totals are.
    first_counting = (
        other.select(other.id)
        .join(its_version, on=(other.current == its_version.id))
        .where((other.account == License.account) & other.retired_at.is_null() & _proof_counts(its_version))
        .order_by(its_version.expires_on, _plan_order(other), other.id)
        .limit(1)
    )
    totals = (
        License.select(
            License.account.alias("account_id"),
            fn.COUNT(License.id).alias("licenses"),
            fn.SUM(LicenseVersion.seats).alias("seats_total"),
            fn.MIN(LicenseVersion.expires_on).alias("earliest"),
            first_counting.alias("first_id"),
        )
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .where(License.account.in_(account_ids) & License.retired_at.is_null())
        .group_by(License.account)
        .alias("totals")
    )
    license, version = License.alias(), LicenseVersion.alias()
    columns = {
        "account_id": license.account, "plan": license.plan, "seats": version.seats,
        "expires_on": version.expires_on, "review_status": version.review_status,
        "reviewed_at": version.reviewed_at, "saved_anyway": version.saved_anyway,
        "submitted_at": version.submitted_at, "removal_requested_at": license.removal_requested_at,
        "licenses": totals.c.licenses, "seats_total": totals.c.seats_total, "earliest": totals.c.earliest,
    }
    return (
        license.select(*(columns[name] for name in _DecidingRow._fields))
        .join(version, on=(license.current == version.id))
        .join(totals, on=(totals.c.account_id == license.account))
        .where(license.retired_at.is_null() & (
            (license.id == totals.c.first_id) | ~_proof_counts(version) | _not_a_stored_date(version.expires_on)
        ))
    )


# The column each value comes from, so it is converted as Peewee converts that column (SQLite gives
# dates, and a MIN() over them, as text); None: a count or a sum, an integer from both drivers.
_DECIDING_SOURCES = {
    "account_id": License.account, "plan": License.plan, "seats": LicenseVersion.seats,
    "expires_on": LicenseVersion.expires_on, "review_status": LicenseVersion.review_status,
    "reviewed_at": LicenseVersion.reviewed_at, "saved_anyway": LicenseVersion.saved_anyway,
    "submitted_at": LicenseVersion.submitted_at, "removal_requested_at": License.removal_requested_at,
    "licenses": None, "seats_total": None, "earliest": LicenseVersion.expires_on,
}
_DECIDING_VALUES = [
    value_reader(_DECIDING_SOURCES[name]) if _DECIDING_SOURCES[name] else None for name in _DecidingRow._fields
]


def _deciding_row(values):
    return _DecidingRow._make(
        value if convert is None or value is None else convert(value)
        for convert, value in zip(_DECIDING_VALUES, values, strict=True)
    )


# A page of the accounts list; the statement takes this many account ids (a shorter list is padded with
# its last id, which changes nothing in an IN list), so its SQL is built once, not per request.
ACCOUNTS_PER_QUERY = 50
_DECIDING = CompiledStatement(lambda: _deciding_query(
    [placeholder(f"account_{n}") for n in range(ACCOUNTS_PER_QUERY)]
))


def licenses_by_account(account_ids, timezone_name, must_be_accepted=False):
    """{account id: AccountLicenses} for a page of accounts, rolled up by the database: one statement per
    ACCOUNTS_PER_QUERY accounts.

    byol_status() over an account's `deciding` licenses gives what it gives over all of them, but for
    `seats` (take AccountLicenses.seats) and `broken` (the deciding ones only). The database counts
    and sums each account's licenses and returns only the licenses that can decide: the first whose
    proof counts (counts_as_proof: not rejected, not awaiting an acceptance it needs) by (expiration,
    plan), which is the first such to expire and, while none is broken, the one BYOL holds until;
    and every license whose proof does not count (few: rejected, or awaiting acceptance), whose lapse
    day is a business date (of the rejection, of the submission) that only Python's time zones give
    on SQLite. On SQLite a license whose date is not one is returned too, so the rule fails on it and
    only its own account shows as unknown. `must_be_accepted` is PROOF_MUST_BE_ACCEPTED.
    tests/accounts/test_accounts_list.py checks on generated accounts that both give the same answer.
    """
    by_account = {}
    account_ids = list(account_ids)
    for start in range(0, len(account_ids), ACCOUNTS_PER_QUERY):
        chunk = account_ids[start:start + ACCOUNTS_PER_QUERY]
        chunk += chunk[-1:] * (ACCOUNTS_PER_QUERY - len(chunk))
        cursor = _DECIDING.cursor(must_be_accepted=bool(must_be_accepted),
                                  **{f"account_{n}": account_id for n, account_id in enumerate(chunk)})
        for row in map(_deciding_row, cursor.fetchall()):
            account = by_account.get(row.account_id)
            if account is None:
                account = by_account[row.account_id] = AccountLicenses(row.licenses, row.seats_total, row.earliest, [])
            account.deciding.append(
                _terms(row.plan, row.seats, row.expires_on, row.review_status, row.reviewed_at, timezone_name,
                       saved_anyway=bool(row.saved_anyway), submitted_at=row.submitted_at,
                       must_be_accepted=must_be_accepted, removal_requested_at=row.removal_requested_at)
            )
    return by_account


def no_licenses():
    """AccountLicenses of an account without any."""
    return _NO_LICENSES


def listed_standing(licenses, today, billing_day, enrolled):
    """The BYOL status of an account from its AccountLicenses: byol_status() over the deciding licenses,
    with the seats of all; `broken` holds the deciding ones only (the first of them is `lapsing`)."""
    byol = byol_status(licenses.deciding, today=today, billing_day=billing_day, enrolled=enrolled)
    return replace(byol, seats=licenses.seats)


def account_standing(account, licenses, today, *, timezone_name, must_be_accepted=False):
    """(rows, BYOL status) for a page: each license with its status, and the roll-up.

    `timezone_name` is the business time zone (BUSINESS_TIMEZONE), in which rejections are dated;
    `must_be_accepted` is PROOF_MUST_BE_ACCEPTED.
    """
    terms = [terms_of(lic, timezone_name, must_be_accepted) for lic in licenses]
    rows = [
        (lic, license_status(lic.current.expires_on, today, lic.current.is_rejected, term.unaccepted))
        for lic, term in zip(licenses, terms)
    ]
    status = byol_status(
        terms,
        today=today,
        billing_day=account.billing_day,
        enrolled=account.byol_enrolled,
    )
    return rows, status


def add_license(account, user, product, plan, terms, proof, replaces=None):
    """Create a license with its first version; raise DuplicatePlan if the plan is already there.

    `proof` is a new Upload, stored in the same transaction (so a refused Save leaves no upload
    behind), or a kept ProofDocument (ProofGone if it was purged meanwhile). `replaces` is the kept
    upload a new one takes the place of; it is deleted.
    """
    key = plan_key(plan)
    existing = _license_for_plan(account.id, product.id, key)
    if existing:
        raise DuplicatePlan(existing)
    try:
        with write_transaction():
            document = _attach(account.id, user, proof)
            license = License.create(account=account.id, product=product.id, plan=" ".join(plan.split()), plan_key=key)
            version = _add_version(license, user, terms, document, replaces)
            audit.record("license.added", account=account.id, subject=license.plan,
                         after={"product": product.name, "plan": license.plan, **terms})
            _record_upload(license, version, document)
    except IntegrityError:
        # Another request added the same plan between the check and the insert.
        existing = _license_for_plan(account.id, product.id, key)
        if existing is None:
            raise
        raise DuplicatePlan(existing) from None
    return license


def _license_for_plan(account_id, product_id, key, other_than=None):
    """The account's license (not removed) for the plan key, or None; the partial unique index's scope."""
    query = License.select().where(
        (License.account == account_id)
        & (License.product == product_id)
        & (License.plan_key == key)
        & License.retired_at.is_null()
    )
    if other_than is not None:
        query = query.where(License.id != other_than)
    return query.first()


def retire_license(license, user, now=None):
    """Remove a plan the customer no longer has; False when it was already removed.

    One conditional UPDATE decides (a second click or a second tab changes nothing), and the audit
    entry is written in its transaction. The row and its versions stay: staff keep the history, and
    a billing cycle that started before `now` is still decided with the license in it.
    """
    now = now or utcnow()
    version = license.current
    with write_transaction():
        changed = License.update(retired_at=now, retired_by=user).where(
            (License.id == license.id)
            & (License.account == license.account_id)
            & License.retired_at.is_null()
        ).execute() == 1
        if changed:
            audit.record(
                "license.retired",
                account=license.account_id,
                subject=license.plan,
                before={"plan": license.plan, "seats": version.seats, "expires_on": version.expires_on,
                        "retired_at": None},
                after={"retired_at": now},
            )
    if changed:
        license.retired_at, license.retired_by = now, user
    return changed


def request_removal(license, user, now=None):
    """Ask to remove a lapsed plan: it waits for staff as removal awaiting confirmation, and still
    counts as lapsed until they confirm (docs/domain.md, "Removing a plan"). False when it was
    already asked or removed; one conditional UPDATE decides, its audit entry in the same transaction.
    """
    now = now or utcnow()
    version = license.current
    with write_transaction():
        changed = License.update(removal_requested_at=now, removal_requested_by=user).where(
            (License.id == license.id)
            & (License.account == license.account_id)
            & License.retired_at.is_null()
            & License.removal_requested_at.is_null()
        ).execute() == 1
        if changed:
            audit.record(
                "license.removal_requested", account=license.account_id, subject=license.plan,
                before={"plan": license.plan, "seats": version.seats, "expires_on": version.expires_on,
                        "review_status": version.review_status},
                after={"removal_requested_at": now},
            )
    if changed:
        license.removal_requested_at, license.removal_requested_by = now, user
    return changed


def confirm_removal(account_id, license_id, now=None):
    """Staff confirm a removal awaiting confirmation: the plan is removed from `now` on, as if the
    customer had removed it then (it stops counting from the next billing cycle that starts after).
    Returns the plan's name, or None when no removal of the account's license awaits (already decided).
    """
    now = now or utcnow()
    with write_transaction():
        row = _awaiting_removal(account_id, license_id)
        if row is None:
            return None
        changed = License.update(retired_at=now, retired_by=row.removal_requested_by_id).where(
            (License.id == license_id) & (License.account == account_id)
            & License.removal_requested_at.is_null(False) & License.retired_at.is_null()
        ).execute() == 1
        if not changed:
            return None
        audit.record(
            "license.removal_confirmed", account=account_id, subject=row.plan,
            before={"removal_requested_at": row.removal_requested_at, "retired_at": None},
            after={"retired_at": now},
        )
    return row.plan


def refuse_removal(account_id, license_id, reason):
    """Staff refuse a removal awaiting confirmation, with a reason: the plan stays, as it was.

    Returns (plan, who asked: a user id or None), or None when no removal awaits (already decided).
    """
    with write_transaction():
        row = _awaiting_removal(account_id, license_id)
        if row is None:
            return None
        changed = License.update(removal_requested_at=None, removal_requested_by=None).where(
            (License.id == license_id) & (License.account == account_id)
            & License.removal_requested_at.is_null(False) & License.retired_at.is_null()
        ).execute() == 1
        if not changed:
            return None
        audit.record(
            "license.removal_refused", account=account_id, subject=row.plan,
            before={"removal_requested_at": row.removal_requested_at},
            after={"removal_requested_at": None, "reason": reason},
        )
    return row.plan, row.removal_requested_by_id


def _awaiting_removal(account_id, license_id):
    query = License.select(
        License.id, License.plan, License.removal_requested_at, License.removal_requested_by,
    ).where(
        (License.id == license_id) & (License.account == account_id)
        & License.removal_requested_at.is_null(False) & License.retired_at.is_null()
    )
    return (query.for_update() if on_postgresql() else query).first()


def rename_license(license, plan):
    """Staff fix a typo in a plan's name; False when the name is already that.

    DuplicatePlan when another license of the account that is not removed has that plan (a removed
    license takes no plan from anyone). The audit entry is written in the same transaction.
    """
    key, name = plan_key(plan), " ".join(plan.split())
    try:
        with write_transaction():
            row = License.select(License.id, License.plan, License.retired_at).where(License.id == license.id)
            row = (row.for_update() if on_postgresql() else row).first()
            if row is None or row.plan == name:
                return False
            if row.retired_at is None:
                clash = _license_for_plan(license.account_id, license.product_id, key, other_than=license.id)
                if clash is not None:
                    raise DuplicatePlan(clash)
            License.update(plan=name, plan_key=key).where(License.id == license.id).execute()
            audit.record(
                "license.renamed", account=license.account_id, subject=name,
                before={"plan": row.plan}, after={"plan": name},
            )
    except IntegrityError:
        # Another request took the plan between the check and the update.
        clash = _license_for_plan(license.account_id, license.product_id, key, other_than=license.id)
        if clash is None:
            raise
        raise DuplicatePlan(clash) from None
    license.plan, license.plan_key = name, key
    return True


def renew_license(license, user, terms, proof, replaces=None):
    """Add a new version (new date, new proof) to a license; earlier versions stay as its history.

    `proof` and `replaces` as for add_license().
    """
    earlier = license.current
    with write_transaction():
        document = _attach(license.account_id, user, proof)
        version = _add_version(license, user, terms, document, replaces)
        before, after = audit.changed({field: getattr(earlier, field) for field in terms}, terms)
        audit.record("license.updated", account=license.account_id, subject=license.plan, before=before, after=after)
        _record_upload(license, version, document)
    return license


def _record_upload(license, version, document):
    audit.record(
        "proof.uploaded", account=license.account_id, subject=license.plan,
        after={"file": document.original_name, "bytes": document.size, "expires_on": version.expires_on},
    )


def _attach(account_id, user, proof):
    """The document a new version uses: a new Upload is stored now; a kept one is held against a purge."""
    if isinstance(proof, Upload):
        return store_upload(proof, account_id, user)
    held = ProofDocument.select(
        ProofDocument.id, ProofDocument.original_name, ProofDocument.size, ProofDocument.text_status,
        ProofDocument.extracted_text,
    ).where(
        (ProofDocument.id == proof.id) & (ProofDocument.account == account_id)
    )
    if on_postgresql():
        # A purge skips a row locked so; one that locked it first deletes it, and this finds it gone.
        held = held.for_update("FOR KEY SHARE")
    document = held.first()
    if document is None:
        raise ProofGone()
    return document


class ProofVerdict(NamedTuple):
    """What the customer is told at the form of their document against what they entered.

    `differences` are (field, what the document says) for each field the document names otherwise
    (plan, seats, expires_on, tenant, in that order). `nothing_to_check` is a document whose text
    could not be read (a scan, a photo, a hostile file) or that names none of the four: staff check it.
    """

    status: str
    differences: tuple
    nothing_to_check: bool


def proof_verdict(account_id, proof, plan, terms):
    """The document check of a submission before it is saved: `proof` is a new Upload (its text read
    by with_text()) or a kept upload of the account (its stored text is read, scoped to the account)."""
    if isinstance(proof, Upload):
        text = proof.text
        status, extracted = (text.status, text.text) if text is not None else (UNCHECKED, "")
    else:
        row = (
            ProofDocument.select(ProofDocument.text_status, ProofDocument.extracted_text)
            .where((ProofDocument.id == proof.id) & (ProofDocument.account == account_id))
            .first()
        )
        status, extracted = (row.text_status, row.extracted_text) if row is not None else (UNCHECKED, "")
    columns = check_columns(_ReadText(status, extracted), plan, terms)
    if columns["status"] != READ:
        return ProofVerdict(columns["status"], (), True)
    names = ("plan", "seats", "expires_on", "tenant")
    differences = tuple(
        (name, columns[f"{name}_seen"]) for name in names if columns[name] == proof_text.DIFFERENT
    )
    nothing = all(columns[name] == proof_text.NOT_FOUND for name in names)
    return ProofVerdict(READ, differences, nothing)


class _ReadText(NamedTuple):
    text_status: str
    extracted_text: str


def check_columns(document, plan, terms):
    """The ProofCheck columns for a document read against a version's plan and terms.

    Only the document's stored text is used (read at upload, outside any transaction), so this is
    quick enough for the version's own transaction.
    """
    if document.text_status != READ:
        return {"status": document.text_status}
    try:
        comparison = proof_text.compare_terms(
            document.extracted_text, plan=plan, seats=terms["seats"], expires_on=terms["expires_on"],
            tenant=terms["tenant"],
        )
    except Exception:  # noqa: BLE001 - a surprise in the comparison must not refuse the Save
        return {"status": UNREADABLE}
    columns = {"status": READ}
    for name, field in comparison.fields():
        columns[name], columns[f"{name}_seen"] = field.state, field.seen
    return columns


def _add_version(license, user, terms, proof, replaces=None):
    version = LicenseVersion.create(license=license.id, submitted_by=user, proof=proof.id, **terms)
    License.update(current=version.id, expires_on=version.expires_on, seats=version.seats).where(
        License.id == license.id
    ).execute()
    license.current, license.expires_on, license.seats = version, version.expires_on, version.seats
    ProofCheck.create(version=version.id, **check_columns(proof, license.plan, terms))
    if replaces is not None and replaces.id != proof.id:
        discard_unattached(license.account_id, replaces.id)
    return version
