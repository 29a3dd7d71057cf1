"""`flask verify-tenants`: every connected tenant read into today's snapshot; consent withdrawn makes a tenant
not connected; exit 0, 1 or 2 with one summary line; AUTO_ACCEPT_VERIFIED."""
from datetime import date

import pytest

from helpers import insert_license, text_of

from webapp.audit.models import AuditEntry
from webapp.core.clock import utcnow
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion
from webapp.microsoft365 import graph, store
from webapp.microsoft365.models import TenantSnapshot

from .conftest import link_of
from .standin import subscription


def last_line(result):
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def connected(connect, microsoft, account):
    """The account connected to Contoso (25 seats of Office 365 E3 until 31 Dec 2099)."""
    tenant = microsoft.add_tenant("Contoso", subscriptions=[subscription(renews="2099-12-31T23:59:59Z")])
    connect(tenant)
    microsoft.requests.clear()
    return tenant


def test_without_a_client_id_it_exits_2(runner, app):
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 2 and "M365_CLIENT_ID is not set" in result.output


def test_every_connected_tenant_is_read_into_todays_snapshot(runner, connected, microsoft, account, today):
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 0, result.output
    assert last_line(result) == "read 1, not connected 0, failed 0, accepted 0"
    assert "/v1.0/directory/subscriptions" in microsoft.paths()
    with db.database.connection_context():
        snapshots = list(TenantSnapshot.select().where(TenantSnapshot.account == account.id))
        entry = AuditEntry.get(AuditEntry.kind == "microsoft365.run")
    # Connect and the run fell on the same day: one snapshot for the day, the latest reading's.
    assert [s.taken_on for s in snapshots] == [today]
    assert entry.actor_label == "cron"


def test_a_429_then_success_reads_everything(runner, connected, microsoft):
    microsoft.throttle["/v1.0/subscribedSkus"] = 1
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 0 and last_line(result).startswith("read 1,")
    assert microsoft.paths().count("/v1.0/subscribedSkus") == 2


def test_consent_withdrawn_makes_the_tenant_not_connected(runner, connected, microsoft, account, customer):
    connected.consented = False
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 1
    assert last_line(result) == "read 0, not connected 1, failed 0, accepted 0"
    assert "AADSTS700016" in result.output
    link = link_of(account)
    assert not link.is_connected and "AADSTS700016" in link.problem
    page = text_of(customer.get("/licenses"))
    assert "Reconnect Microsoft 365" in page and "no longer lets" in page
    with db.database.connection_context():
        assert AuditEntry.get(AuditEntry.kind == "microsoft365.consent_lost").account_id == account.id
    # The next run leaves it for its customer and says so; it is not a new failure.
    again = runner.invoke(args=["verify-tenants"])
    assert again.exit_code == 0 and "1 tenant still waiting" in again.output


def test_the_customer_reconnects_after_consent_was_withdrawn(runner, connect, connected, microsoft, account):
    connected.consented = False
    runner.invoke(args=["verify-tenants"])
    connect(connected)
    assert link_of(account).is_connected
    with db.database.connection_context():
        assert AuditEntry.select().where(AuditEntry.kind == "microsoft365.reconnected").count() == 1


def test_a_passing_failure_keeps_the_link_and_exits_1(runner, connected, microsoft, account, app):
    microsoft.throttle["/v1.0/organization"] = 1
    microsoft.retry_after = "3600"
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 1 and last_line(result) == "read 0, not connected 0, failed 1, accepted 0"
    link = link_of(account)
    assert link.is_connected and "429" in link.problem


def test_a_refused_client_secret_exits_2_and_leaves_tenants_alone(runner, connected, app, account):
    app.config["M365_CLIENT_SECRET"] = "expired"
    result = runner.invoke(args=["verify-tenants"])
    assert result.exit_code == 2 and "AADSTS7000215" in result.output
    assert link_of(account).is_connected


def _pending_license(account, seats=25):
    return insert_license(account, plan="Office 365 E3", seats=seats, expires_on=date(2099, 12, 31))


def test_auto_accept_verified_accepts_with_the_snapshot_named(runner, connected, app, account, make_account):
    app.config["AUTO_ACCEPT_VERIFIED"] = True
    verified = _pending_license(account)
    result = runner.invoke(args=["verify-tenants"])
    assert last_line(result).endswith("accepted 1")
    with db.database.connection_context():
        assert LicenseVersion.get_by_id(verified.current_id).review_status == LicenseVersion.ACCEPTED
        entry = AuditEntry.get(AuditEntry.kind == "microsoft365.auto_accepted")
        snapshot = TenantSnapshot.get(TenantSnapshot.account == account.id)
        reviewed = AuditEntry.get(AuditEntry.kind == "proof.reviewed")
    assert f'"snapshot": {snapshot.id}' in entry.after
    assert entry.actor_label == reviewed.actor_label == store.AUTO_ACCEPT_ACTOR


def test_auto_accept_leaves_a_version_microsoft_does_not_confirm(runner, connected, app, account):
    app.config["AUTO_ACCEPT_VERIFIED"] = True
    short = _pending_license(account, seats=30)
    assert last_line(runner.invoke(args=["verify-tenants"])).endswith("accepted 0")
    with db.database.connection_context():
        assert LicenseVersion.get_by_id(short.current_id).review_status == LicenseVersion.PENDING


def test_without_auto_accept_verified_versions_wait_for_a_person(runner, connected, app, account):
    pending = _pending_license(account)
    assert app.config["AUTO_ACCEPT_VERIFIED"] is False
    runner.invoke(args=["verify-tenants"])
    with db.database.connection_context():
        assert LicenseVersion.get_by_id(pending.current_id).review_status == LicenseVersion.PENDING


def test_two_readings_the_same_day_keep_one_snapshot(app, connected, account, today):
    reading = graph.TenantReading({}, [subscription()], [])
    with db.database.connection_context():
        for _ in range(2):
            store.record_reading(account.id, connected.id, reading, utcnow(), today)
        assert TenantSnapshot.select().where(TenantSnapshot.account == account.id).count() == 1
