"""The Graph client (webapp.microsoft365.graph) against the stand-in over HTTPS: MSAL's app token, paging,
429 with Retry-After, consent withdrawn, the provider's own credentials refused, and no token kept."""
import pytest

from webapp.extensions import db
from webapp.microsoft365 import graph
from webapp.migrations import MODELS

from .standin import subscribed_sku, subscription


@pytest.fixture
def settings(app, microsoft):
    return graph.Settings.from_config(app.config)


def test_a_consented_tenant_is_proven_and_read(settings, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=True)
    reading = graph.read_tenant(settings, tenant.id)
    assert reading.organization["id"] == tenant.id
    assert [s["skuPartNumber"] for s in reading.subscriptions] == ["ENTERPRISEPACK"]
    assert [s["skuPartNumber"] for s in reading.subscribed_skus] == ["ENTERPRISEPACK"]
    # MSAL read the OpenID configuration, then asked the token endpoint; Graph was read after.
    assert microsoft.paths()[:2] == [f"/{tenant.id}/v2.0/.well-known/openid-configuration",
                                     f"/{tenant.id}/oauth2/v2.0/token"]


def test_every_page_is_followed(settings, microsoft):
    tenant = microsoft.add_tenant(
        "Contoso", consented=True,
        subscriptions=[subscription(sku=f"SKU_{n}") for n in range(7)],
        skus=[subscribed_sku("x", sku=f"SKU_{n}") for n in range(5)],
    )
    microsoft.page_size = 2
    reading = graph.read_tenant(settings, tenant.id)
    assert [s["skuPartNumber"] for s in reading.subscriptions] == [f"SKU_{n}" for n in range(7)]
    assert len(reading.subscribed_skus) == 5
    assert microsoft.paths().count("/v1.0/directory/subscriptions") == 4
    assert microsoft.paths().count("/v1.0/subscribedSkus") == 3


def test_a_429_is_waited_out_for_its_retry_after(settings, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=True)
    microsoft.throttle["/v1.0/directory/subscriptions"] = 2
    microsoft.retry_after = "3"
    waits = []
    reading = graph.read_tenant(settings, tenant.id, sleep=waits.append)
    assert waits == [3.0, 3.0]
    assert len(reading.subscriptions) == 1
    assert microsoft.paths().count("/v1.0/directory/subscriptions") == 3


def test_a_retry_after_past_the_limit_fails_the_reading(settings, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=True)
    microsoft.throttle["/v1.0/subscribedSkus"] = 1
    microsoft.retry_after = "3600"
    waits = []
    with pytest.raises(graph.GraphError) as raised:
        graph.read_tenant(settings, tenant.id, sleep=waits.append)
    assert not isinstance(raised.value, graph.ConsentMissing)
    assert waits == [] and "429" in str(raised.value)


def test_endless_429s_stop_after_the_retries_allowed(settings, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=True)
    microsoft.throttle["/v1.0/organization"] = 100
    waits = []
    with pytest.raises(graph.GraphError):
        graph.read_tenant(settings, tenant.id, sleep=waits.append)
    assert len(waits) == settings.max_retries


def test_a_tenant_without_consent_gets_no_token(settings, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=False)
    with pytest.raises(graph.ConsentMissing) as raised:
        graph.read_tenant(settings, tenant.id)
    assert "AADSTS700016" in str(raised.value)


def test_a_tenant_that_does_not_exist_is_refused(settings, microsoft):
    with pytest.raises(graph.ConsentMissing):
        graph.read_tenant(settings, "00000000-0000-0000-0000-000000000001")


def test_consent_withdrawn_after_the_token_is_a_403(settings, microsoft):
    import requests

    tenant = microsoft.add_tenant("Contoso", consented=True)
    with requests.Session() as http:
        token = graph.app_token(settings, tenant.id, http)
        tenant.consented = False
        with pytest.raises(graph.ConsentMissing) as raised:
            graph.get_all(settings, http, "/v1.0/directory/subscriptions", token)
    assert "403" in str(raised.value)


def test_a_wrong_client_secret_is_the_providers_problem_not_the_tenants(app, microsoft):
    tenant = microsoft.add_tenant("Contoso", consented=True)
    app.config["M365_CLIENT_SECRET"] = "not-the-secret"
    with pytest.raises(graph.BadCredentials) as raised:
        graph.read_tenant(graph.Settings.from_config(app.config), tenant.id)
    assert "AADSTS7000215" in str(raised.value)


def test_a_next_link_to_another_host_is_not_followed(settings, microsoft, standin):
    tenant = microsoft.add_tenant("Contoso", consented=True, subscriptions=[subscription(), subscription()])
    microsoft.page_size = 1
    microsoft.base_url = standin.login_url  # the next page points at the login host, not Graph
    try:
        with pytest.raises(graph.GraphError) as raised:
            graph.read_tenant(settings, tenant.id)
    finally:
        microsoft.base_url = standin.graph_url
    assert "outside" in str(raised.value)
    assert microsoft.paths().count("/v1.0/directory/subscriptions") == 1


def test_graph_unreachable_is_a_passing_failure(app, microsoft):
    app.config["M365_GRAPH_URL"] = "https://127.0.0.1:9"
    tenant = microsoft.add_tenant("Contoso", consented=True)
    with pytest.raises(graph.GraphError) as raised:
        graph.read_tenant(graph.Settings.from_config(app.config), tenant.id)
    assert not isinstance(raised.value, graph.ConsentMissing)


def test_no_access_token_is_stored_anywhere(connect, microsoft):
    """After a connect, no table holds any token the stand-in issued."""
    connect(microsoft.add_tenant("Contoso"))
    issued = list(microsoft.tokens)
    assert issued
    with db.database.connection_context():
        for model in MODELS:
            for row in model.select().tuples():
                text = repr(row)
                assert not any(token in text for token in issued), model.__name__
