"""Connect Microsoft 365: the admin-consent round trip through the stand-in, the tenant proven by an app token
and its organization, one tenant per account, and the audit trail."""
from urllib.parse import parse_qs, urlsplit

from helpers import messages_of, text_of

from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.microsoft365.models import TenantSnapshot

from .conftest import link_of
from .standin import subscription


def test_without_a_client_id_there_is_no_button_and_no_route(customer, app):
    assert app.config["M365_CLIENT_ID"] == ""
    page = customer.get("/licenses").get_data(as_text=True)
    assert "Connect Microsoft 365" not in page
    assert customer.get("/microsoft365/connect").status_code == 404


def test_the_button_sends_the_admin_to_microsofts_admin_consent_page(customer, microsoft, standin):
    page = customer.get("/licenses").get_data(as_text=True)
    assert "Connect Microsoft 365" in page
    response = customer.get("/microsoft365/connect")
    target = urlsplit(response.headers["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}" == standin.login_url
    assert target.path == "/organizations/v2.0/adminconsent"
    assert query["client_id"] == [microsoft.client_id]
    assert query["scope"] == ["https://graph.microsoft.com/.default"]
    assert query["redirect_uri"] == ["http://portal.test/microsoft365/callback"]
    assert len(query["state"][0]) >= 40


def test_a_consenting_admin_connects_the_tenant(connect, microsoft, account):
    tenant = microsoft.add_tenant("Contoso")
    response = connect(tenant)
    assert response.status_code == 302
    link = link_of(account)
    assert link.tenant_id == tenant.id and link.organization_name == "Contoso" and link.is_connected
    with db.database.connection_context():
        assert TenantSnapshot.select().where(TenantSnapshot.account == account.id).count() == 1
        entry = AuditEntry.get(AuditEntry.kind == "microsoft365.connected")
    assert entry.account_id == account.id and entry.actor_label == "pat@northwind.example"
    # The tenant was proven: a token for it, then its organization, then the two collections.
    assert microsoft.paths()[-3:] == ["/v1.0/organization", "/v1.0/directory/subscriptions", "/v1.0/subscribedSkus"]


def test_the_tab_says_connected_after_the_round_trip(connect, microsoft, customer):
    connect(microsoft.add_tenant("Contoso"))
    page = customer.get("/licenses")
    assert "Microsoft 365 is connected: Contoso." in messages_of(page)
    assert "Microsoft 365 connected" in text_of(page)
    assert "uploaded proof remains the evidence that a plan is yearly" in text_of(page)


def test_a_declined_consent_changes_nothing_and_says_what_microsoft_said(connect, microsoft, account, customer):
    microsoft.add_tenant("Contoso")
    response = connect(None)
    assert response.status_code == 302
    assert link_of(account) is None
    assert "User declined to consent" in messages_of(customer.get("/licenses"))


def test_a_forged_tenant_on_the_callback_is_not_believed(connect, microsoft, account, customer):
    """Microsoft warns that `tenant` can be forged: the victim's tenant never consented to the app, so no token."""
    attacker = microsoft.add_tenant("Fabrikam")
    victim = microsoft.add_tenant("Contoso")
    microsoft.forged_tenant = victim.id
    connect(attacker)
    assert link_of(account) is None
    assert "could not be confirmed" in messages_of(customer.get("/licenses"))
    assert "/v1.0/organization" not in microsoft.paths()


def test_a_made_up_tenant_is_refused_before_any_request(connect, microsoft, account, customer):
    microsoft.forged_tenant = "not-a-guid'<script>"
    connect(microsoft.add_tenant("Contoso"))
    assert link_of(account) is None
    assert "did not name an approved tenant" in messages_of(customer.get("/licenses"))


def test_a_replayed_state_is_refused(customer, microsoft, standin):
    import requests

    microsoft.admin_of = microsoft.add_tenant("Contoso").id
    start = customer.get("/microsoft365/connect")
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10,
                                 verify=standin.ca_file).headers["Location"])
    assert customer.get(f"{back.path}?{back.query}").status_code == 302
    replay = customer.get(f"{back.path}?{back.query}")
    assert replay.status_code == 400
    assert "already used" in text_of(replay)


def test_a_state_from_another_sign_in_is_refused(app, customer, microsoft, standin, user, login):
    import requests

    microsoft.admin_of = microsoft.add_tenant("Contoso").id
    start = customer.get("/microsoft365/connect")
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10,
                                 verify=standin.ca_file).headers["Location"])
    other = app.test_client()
    login(other, user.email)  # the same user, another sign-in (another browser)
    assert other.get(f"{back.path}?{back.query}").status_code == 400


def test_a_callback_without_state_or_signed_out_is_refused(app, customer, microsoft):
    assert customer.get("/microsoft365/callback?admin_consent=True&tenant=x").status_code == 400
    anonymous = app.test_client()
    assert anonymous.get("/microsoft365/callback?state=x").status_code in (302, 401)


def test_a_tenant_another_account_holds_is_refused_and_staff_see_it(app, connect, microsoft, make_account,
                                                                     make_user, login, account, customer):
    tenant = microsoft.add_tenant("Contoso")
    connect(tenant)
    other_account = make_account("Fabrikam Ltd")
    make_user("sam@fabrikam.example", account=other_account)
    other = app.test_client()
    login(other, "sam@fabrikam.example")
    connect(tenant, client=other)
    assert link_of(other_account) is None
    assert link_of(account).tenant_id == tenant.id
    said = messages_of(other.get("/licenses"))
    assert "already connected to another customer account" in said
    with db.database.connection_context():
        entry = AuditEntry.get(AuditEntry.kind == "microsoft365.claim_refused")
    assert entry.account_id == other_account.id and entry.internal
    assert "Northwind Traders" in entry.after


def test_reconnect_and_disconnect_are_audited_and_disconnect_asks_first(connect, microsoft, account, customer):
    tenant = microsoft.add_tenant("Contoso", subscriptions=[subscription()])
    connect(tenant)
    connect(tenant)
    confirm = customer.get("/microsoft365/disconnect")
    assert confirm.status_code == 200 and "Disconnect Microsoft 365?" in text_of(confirm)
    assert link_of(account) is not None
    customer.post("/microsoft365/disconnect")
    assert link_of(account) is None
    with db.database.connection_context():
        kinds = [e.kind for e in AuditEntry.select().where(AuditEntry.kind.startswith("microsoft365."))
                 .order_by(AuditEntry.id)]
        assert TenantSnapshot.select().where(TenantSnapshot.account == account.id).count() == 0
    assert kinds == ["microsoft365.connected", "microsoft365.reconnected", "microsoft365.disconnected"]


def test_staff_and_unauthorized_users_cannot_connect(app, microsoft, staff, make_user, account, login):
    assert staff.get("/microsoft365/connect").status_code == 302
    make_user("guest@northwind.example", account=account, authorized=False)
    guest = app.test_client()
    login(guest, "guest@northwind.example")
    assert guest.get("/microsoft365/connect").status_code == 302


def test_connecting_again_and_again_keeps_few_pending_requests(customer, microsoft, user):
    from webapp.microsoft365.models import ConsentRequest
    from webapp.microsoft365.store import PENDING_PER_USER

    for _ in range(PENDING_PER_USER + 3):
        assert customer.get("/microsoft365/connect").status_code == 303
    with db.database.connection_context():
        assert ConsentRequest.select().where(ConsentRequest.user == user.id).count() == PENDING_PER_USER
