"""Reading and writing an account's Microsoft 365 link, its snapshots and consent requests; every lookup is
scoped to the account inside the query, and every change writes its audit entry in its transaction."""
import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from peewee import IntegrityError, fn

from .. import audit
from ..accounts.models import Account
from ..audit.models import AuditEntry
from ..core.database import write_transaction
from ..core.secret_tokens import digest, new_token
from ..licenses.models import License, LicenseVersion
from ..review import store as review_store
from . import rules
from .graph import GRAPH_SCOPE
from .models import ConsentRequest, TenantLink, TenantSnapshot

# How long a Connect may take at Microsoft (sign-in, consent) before its state no longer works.
CONSENT_VALID_FOR = timedelta(minutes=30)
AUTO_ACCEPT_ACTOR = "Microsoft 365 verification"
# Connect requests one user may have on their way through Microsoft at once (several tabs).
PENDING_PER_USER = 5


def enabled(config):
    """The feature is on once the provider set its Entra app's client id (config.py requires the secret then)."""
    return bool(config.get("M365_CLIENT_ID"))


class TenantTaken(Exception):
    """The tenant is already linked to another account: one tenant belongs to one account."""


# The consent request -----------------------------------------------------------------------------------------

def consent_url(settings, redirect_uri, state):
    """Microsoft's admin-consent page for the provider's app, returning to `redirect_uri` with `state`."""
    query = urlencode({"client_id": settings.client_id, "scope": GRAPH_SCOPE, "redirect_uri": redirect_uri,
                       "state": state})
    return f"{settings.login_url}/organizations/v2.0/adminconsent?{query}"


def start_consent(account_id, user_id, session_token, now):
    """A new single-use state for this sign-in's Connect; the database keeps its digest only."""
    state = new_token()
    ConsentRequest.delete().where(ConsentRequest.expires_at < now).execute()
    # A user's earlier requests beyond the last few go: clicking Connect again and again keeps few rows.
    kept = (ConsentRequest.select(ConsentRequest.state_digest).where(ConsentRequest.user == user_id)
            .order_by(ConsentRequest.expires_at.desc()).limit(PENDING_PER_USER - 1))
    ConsentRequest.delete().where((ConsentRequest.user == user_id)
                                  & ConsentRequest.state_digest.not_in(kept)).execute()
    ConsentRequest.create(state_digest=digest(state), account=account_id, user=user_id,
                          session_digest=digest(session_token or ""), expires_at=now + CONSENT_VALID_FOR)
    return state


def take_consent(state, user_id, session_token, now):
    """The account id a callback's `state` was issued for, used up now; None when it is unknown, used, expired,
    or issued to another sign-in. One conditional UPDATE decides, so a replay finds it used."""
    if not isinstance(state, str) or not state or len(state) > 128:
        return None
    key = digest(state)
    used = ConsentRequest.update(used_at=now).where(
        (ConsentRequest.state_digest == key) & ConsentRequest.used_at.is_null()
        & (ConsentRequest.expires_at >= now) & (ConsentRequest.user == user_id)
        & (ConsentRequest.session_digest == digest(session_token or ""))
    ).execute()
    if used != 1:
        return None
    return ConsentRequest.get_by_id(key).account_id


# The link ---------------------------------------------------------------------------------------------------

def link_of(account_id):
    """The account's tenant link, or None."""
    return TenantLink.get_or_none(TenantLink.account == account_id)


def _snapshot_row(account_id, tenant, reading, now, today):
    TenantSnapshot.delete().where((TenantSnapshot.account == account_id) & (TenantSnapshot.taken_on == today)).execute()
    return TenantSnapshot.create(
        account=account_id, tenant_id=tenant, taken_at=now, taken_on=today,
        subscriptions=json.dumps(reading.subscriptions), subscribed_skus=json.dumps(reading.subscribed_skus),
    )


def organization_name(reading):
    name = reading.organization.get("displayName")
    return audit.outside_text(name)[:256] if isinstance(name, str) else ""


def record_refused_claim(account_id, tenant, user_label=None):
    """Staff see a claim of a tenant another account holds: an internal entry on the claiming account."""
    owner = (Account.select(Account.name).join(TenantLink, on=(TenantLink.account == Account.id))
             .where(TenantLink.tenant_id == tenant).first())
    with write_transaction():
        audit.record("microsoft365.claim_refused", account=account_id, subject=tenant, internal=True,
                     after={"tenant": tenant, "linked_to": owner.name if owner else "another account"})


def connect(account_id, user_id, tenant, reading, now, today):
    """Link a proven tenant to the account with its first snapshot; TenantTaken when another account has it.

    Connecting again (the same tenant or another one) is a reconnect: the link is replaced, and snapshots
    of another tenant go with the old link.
    """
    try:
        with write_transaction():
            existing = TenantLink.select().where(TenantLink.account == account_id).first()
            owner = TenantLink.select(TenantLink.account).where(
                (TenantLink.tenant_id == tenant) & (TenantLink.account != account_id)).first()
            if owner is not None:
                raise TenantTaken(tenant)
            fields = {"tenant_id": tenant, "organization_name": organization_name(reading),
                      "status": TenantLink.CONNECTED, "connected_at": now, "connected_by": user_id,
                      "read_at": now, "problem": "", "problem_at": None}
            if existing is None:
                TenantLink.create(account=account_id, **fields)
                audit.record("microsoft365.connected", account=account_id, subject=fields["organization_name"] or tenant,
                             after={"tenant": tenant, "organization": fields["organization_name"]})
            else:
                TenantLink.update(**fields).where(TenantLink.account == account_id).execute()
                if existing.tenant_id != tenant:
                    TenantSnapshot.delete().where(TenantSnapshot.account == account_id).execute()
                audit.record("microsoft365.reconnected", account=account_id,
                             subject=fields["organization_name"] or tenant,
                             before={"tenant": existing.tenant_id, "status": existing.status},
                             after={"tenant": tenant, "status": TenantLink.CONNECTED})
            snapshot = _snapshot_row(account_id, tenant, reading, now, today)
    except IntegrityError:
        # Another account linked the tenant between the check and the insert.
        raise TenantTaken(tenant) from None
    return _snapshot(snapshot)


def disconnect(account_id):
    """Remove the account's tenant link and its snapshots; False when there was none."""
    with write_transaction():
        link = TenantLink.select().where(TenantLink.account == account_id).first()
        if link is None:
            return False
        TenantSnapshot.delete().where(TenantSnapshot.account == account_id).execute()
        TenantLink.delete().where(TenantLink.account == account_id).execute()
        audit.record("microsoft365.disconnected", account=account_id, subject=link.organization_name or link.tenant_id,
                     before={"tenant": link.tenant_id, "status": link.status})
    return True


def record_reading(account_id, tenant, reading, now, today):
    """A successful daily reading: a snapshot of the day, and the link marked read.

    Two runs at once may both write the day's snapshot: the second to insert meets the unique (account,
    day) index, and writes again over the first's.
    """
    for attempt in (1, 2):
        try:
            with write_transaction():
                snapshot = _snapshot_row(account_id, tenant, reading, now, today)
                TenantLink.update(read_at=now, problem="", problem_at=None).where(
                    (TenantLink.account == account_id) & (TenantLink.tenant_id == tenant)).execute()
            return _snapshot(snapshot)
        except IntegrityError:
            if attempt == 2:
                raise
    return None


def record_consent_lost(account_id, tenant, problem, now):
    """The tenant no longer lets the app in: the link becomes not connected (the customer is asked to reconnect)."""
    with write_transaction():
        changed = TenantLink.update(status=TenantLink.NOT_CONNECTED, problem=problem[:2000], problem_at=now).where(
            (TenantLink.account == account_id) & (TenantLink.tenant_id == tenant)
            & (TenantLink.status == TenantLink.CONNECTED)).execute()
        if changed:
            audit.record("microsoft365.consent_lost", account=account_id, subject=tenant,
                         before={"status": TenantLink.CONNECTED},
                         after={"status": TenantLink.NOT_CONNECTED, "problem": problem[:300]})


def record_failure(account_id, tenant, problem, now):
    """A reading that failed for a passing reason: kept for staff; the link and its last snapshot stay."""
    TenantLink.update(problem=problem[:2000], problem_at=now).where(
        (TenantLink.account == account_id) & (TenantLink.tenant_id == tenant)).execute()


def linked_accounts():
    """(account id, tenant id, account name, connected) of every link, in account-name order."""
    return [
        (account_id, tenant, name, status == TenantLink.CONNECTED)
        for account_id, tenant, name, status in
        TenantLink.select(TenantLink.account, TenantLink.tenant_id, Account.name, TenantLink.status)
        .join(Account, on=(TenantLink.account == Account.id))
        .order_by(Account.name, Account.id).tuples()
    ]


def record_run(**outcome):
    """The verify-tenants run's summary, in the audit log for staff."""
    with write_transaction():
        audit.record("microsoft365.run", subject="verify-tenants", internal=True, after=outcome)


# Snapshots and verdicts ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """An account's latest snapshot as the pages read it."""

    id: int
    account_id: int
    taken_on: object
    taken_at: object
    subscriptions: list

    def verdict(self, plan, seats, expires_on):
        return rules.compare(plan, seats, expires_on, self.subscriptions)


def _snapshot(row):
    try:
        items = json.loads(row.subscriptions)
    except ValueError:
        items = []
    return Snapshot(row.id, row.account_id, row.taken_on, row.taken_at, rules.subscriptions_from(items))


def latest_snapshots(account_ids):
    """{account id: its latest Snapshot} for connected accounts among `account_ids` (ids, or a query of them), in
    one query."""
    ids = account_ids if hasattr(account_ids, "sql") else list(account_ids)
    if not hasattr(ids, "sql") and not ids:
        return {}
    Latest = TenantSnapshot.alias()
    newest = (Latest.select(Latest.account, fn.MAX(Latest.taken_on).alias("taken_on"))
              .where(Latest.account.in_(ids)).group_by(Latest.account))
    rows = (
        TenantSnapshot.select(TenantSnapshot.id, TenantSnapshot.account, TenantSnapshot.taken_on,
                              TenantSnapshot.taken_at, TenantSnapshot.subscriptions)
        .join(newest, on=((TenantSnapshot.account == newest.c.account_id)
                          & (TenantSnapshot.taken_on == newest.c.taken_on)))
        .join(TenantLink, on=((TenantLink.account == TenantSnapshot.account)
                              & (TenantLink.tenant_id == TenantSnapshot.tenant_id)))
        .where(TenantLink.status == TenantLink.CONNECTED)
    )
    return {row.account_id: _snapshot(row) for row in rows}


def latest_snapshot(account_id):
    """The account's latest Snapshot while its tenant is connected, or None."""
    return latest_snapshots([account_id]).get(account_id)


def _current_versions(account_ids):
    return (
        LicenseVersion.select(LicenseVersion.id, LicenseVersion.seats, LicenseVersion.expires_on,
                              LicenseVersion.review_status, License.plan, License.account)
        .join(License, on=(License.current == LicenseVersion.id))
        .where(License.account.in_(account_ids) & License.retired_at.is_null())
        .objects()
    )


def accept_verified(account_id, snapshot):
    """Accept each current version awaiting review that the snapshot verifies (AUTO_ACCEPT_VERIFIED); returns how
    many. Each acceptance is a review like a person's, with an audit entry naming the snapshot."""
    accepted = 0
    for version in _current_versions([account_id]):
        if version.review_status != LicenseVersion.PENDING:
            continue
        if not snapshot.verdict(version.plan, version.seats, version.expires_on).verified:
            continue
        with write_transaction(), audit.acting_as(AUTO_ACCEPT_ACTOR):
            if review_store.review_version(version.id, LicenseVersion.ACCEPTED, only_pending=True):
                audit.record("microsoft365.auto_accepted", account=account_id, subject=version.plan,
                             after={"version": version.id, "snapshot": snapshot.id,
                                    "snapshot_taken_on": snapshot.taken_on})
                accepted += 1
    return accepted


@dataclass(frozen=True)
class TabStanding:
    """What the Client Licenses tab shows of Microsoft 365: whether it is on, the link, and the latest snapshot."""

    enabled: bool
    link: TenantLink | None = None
    snapshot: Snapshot | None = None


def staff_snapshots(account_ids, config):
    """{account id: latest Snapshot} for a staff page listing these accounts; no query while the feature is off."""
    return latest_snapshots(account_ids) if enabled(config) else {}


def refused_claims(account_id):
    """The account's refused claims of a tenant another account holds (audit entries), newest first."""
    return list(AuditEntry.select().where((AuditEntry.account == account_id)
                                          & (AuditEntry.kind == "microsoft365.claim_refused"))
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(20))


def tab_standing(account_id, config):
    """The account's Microsoft 365 standing for its tab; no query while the feature is off."""
    if not enabled(config):
        return TabStanding(False)
    link = link_of(account_id)
    return TabStanding(True, link, latest_snapshot(account_id) if link is not None and link.is_connected else None)
