"""Reading and writing licenses. Every lookup takes the account and filters by it inside the query."""
from datetime import date

from peewee import IntegrityError

from . import text
from .extensions import db
from .licensing import LicenseTerms, business_date, byol_status, license_status
from .models import License, LicenseVersion, Product, ProofDocument, on_postgresql, write_transaction
from .proofs import Upload, discard_unattached, store_upload, unused


PLAN_KEY_LENGTH = License.plan_key.max_length


class DuplicatePlan(Exception):
    """The account already has a license for this plan."""

    def __init__(self, existing):
        super().__init__(existing.plan)
        self.existing = existing


class ProofGone(Exception):
    """The kept upload a submission names was purged before the Save could use it."""


def plan_key(plan):
    """The plan name as compared for uniqueness (webapp.text.plan_key), refused when too long to store."""
    key = text.plan_key(plan)
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


def licenses_of(account_id):
    """The account's licenses with their current terms, product and proof metadata, in one query."""
    query = (
        _licenses_query()
        .where(License.account == account_id)
        .order_by(LicenseVersion.expires_on, License.plan_key)
    )
    return list(query)


def licenses_by_account(account_ids):
    """{account id: its licenses} for a page of accounts, in one query."""
    by_account = {}
    query = _licenses_query().where(License.account.in_(account_ids)).order_by(License.plan_key)
    for license in query:
        by_account.setdefault(license.account_id, []).append(license)
    return by_account


def license_of(account_id, license_id):
    """One license of the account, or None (also when it belongs to another account)."""
    return (
        _licenses_query()
        .where((License.account == account_id) & (License.id == license_id))
        .first()
    )


def history_of(license):
    """Every version of a license, newest first, with its proof's metadata."""
    return list(
        LicenseVersion.select(LicenseVersion, *ProofDocument.metadata_fields())
        .join(ProofDocument)
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


def terms_of(license, timezone_name):
    """The domain's view of a license loaded by licenses_of().

    A rejection is dated by the business calendar: at 22:00 in New York it is still that day there,
    though UTC, which reviewed_at is stored in, has moved on (and so would the billing cycle).
    """
    version = license.current
    return _terms(license.plan, version.seats, version.expires_on, version.review_status, version.reviewed_at,
                  timezone_name)


def _terms(plan, seats, expires_on, review_status, reviewed_at, timezone_name):
    rejected = review_status == LicenseVersion.REJECTED
    rejected_on = business_date(reviewed_at, timezone_name) if rejected and reviewed_at else None
    return LicenseTerms(plan=plan, seats=seats, expires_on=expires_on, rejected=rejected, rejected_on=rejected_on)


def terms_by_account(account_ids, timezone_name):
    """{account id: [LicenseTerms]} for a page of accounts, in one query of only what the roll-up reads.

    Rows as the driver gives them, not models: a page of 50 accounts rolls up over a thousand
    licenses, and building models (or Peewee's per-value conversion) cost more than the rest of the page.
    """
    query = (
        License.select(License.account, License.plan, LicenseVersion.seats, LicenseVersion.expires_on,
                       LicenseVersion.review_status, LicenseVersion.reviewed_at)
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .where(License.account.in_(account_ids))
        .order_by(License.plan_key)
    )
    by_account = {}
    for account_id, plan, seats, expires_on, review_status, reviewed_at in db.database.execute(query).fetchall():
        if review_status == LicenseVersion.REJECTED:
            reviewed_at = LicenseVersion.reviewed_at.python_value(reviewed_at)  # rare: the slow, general path
        by_account.setdefault(account_id, []).append(
            _terms(plan, seats, _stored_date(expires_on), review_status, reviewed_at, timezone_name)
        )
    return by_account


def _stored_date(value):
    """A date column's value: SQLite's ISO text parsed; one that is not a date is left as it is, as Peewee
    leaves it, so that only its own account's roll-up fails (the list shows that one as unknown)."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def account_standing(account, licenses, today, *, timezone_name):
    """(rows, BYOL status) for a page: each license with its status, and the roll-up.

    `timezone_name` is the business time zone (BUSINESS_TIMEZONE), in which rejections are dated.
    """
    rows = [
        (lic, license_status(lic.current.expires_on, today, lic.current.is_rejected))
        for lic in licenses
    ]
    status = byol_status(
        [terms_of(lic, timezone_name) for lic in licenses],
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
    existing = License.get_or_none(
        (License.account == account.id) & (License.product == product.id) & (License.plan_key == key)
    )
    if existing:
        raise DuplicatePlan(existing)
    try:
        with write_transaction():
            document = _attach(account.id, user, proof)
            license = License.create(account=account.id, product=product.id, plan=" ".join(plan.split()), plan_key=key)
            _add_version(license, user, terms, document, replaces)
    except IntegrityError:
        # Another request added the same plan between the check and the insert.
        existing = License.get_or_none(
            (License.account == account.id) & (License.product == product.id) & (License.plan_key == key)
        )
        if existing is None:
            raise
        raise DuplicatePlan(existing) from None
    return license


def renew_license(license, user, terms, proof, replaces=None):
    """Add a new version (new date, new proof) to a license; earlier versions stay as its history.

    `proof` and `replaces` as for add_license().
    """
    with write_transaction():
        _add_version(license, user, terms, _attach(license.account_id, user, proof), replaces)
    return license


def _attach(account_id, user, proof):
    """The document a new version uses: a new Upload is stored now; a kept one is held against a purge."""
    if isinstance(proof, Upload):
        return store_upload(proof, account_id, user)
    held = ProofDocument.select(ProofDocument.id).where(
        (ProofDocument.id == proof.id) & (ProofDocument.account == account_id)
    )
    if on_postgresql():
        # A purge skips a row locked so; one that locked it first deletes it, and this finds it gone.
        held = held.for_update("FOR KEY SHARE")
    if held.first() is None:
        raise ProofGone()
    return proof


def _add_version(license, user, terms, proof, replaces=None):
    version = LicenseVersion.create(license=license.id, submitted_by=user, proof=proof.id, **terms)
    License.update(current=version.id).where(License.id == license.id).execute()
    license.current = version
    if replaces is not None and replaces.id != proof.id:
        discard_unattached(license.account_id, replaces.id)
    return version
