"""The Microsoft stand-in (standin.py) for the Microsoft 365 tests: one HTTPS server per test process, its
state reset for each test, and the app pointed at it through M365_LOGIN_URL and M365_GRAPH_URL, with its CA
trusted through REQUESTS_CA_BUNDLE."""
from urllib.parse import urlsplit

import pytest
import requests

from webapp.extensions import db
from webapp.microsoft365.models import TenantLink

from .standin import StandIn


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    server = StandIn(tmp_path_factory.mktemp("microsoft"))
    yield server
    server.close()


@pytest.fixture
def microsoft(standin, app, monkeypatch):
    """The stand-in's state, fresh; the app configured for it."""
    standin.microsoft.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", standin.ca_file)
    app.config.update(
        M365_CLIENT_ID=standin.microsoft.client_id, M365_CLIENT_SECRET=standin.microsoft.client_secret,
        M365_LOGIN_URL=standin.login_url, M365_GRAPH_URL=standin.graph_url, M365_MAX_RETRY_AFTER=5,
    )
    return standin.microsoft


@pytest.fixture
def connect(customer, microsoft, standin):
    """Go through Connect Microsoft 365 as the signed-in customer, with `tenant`'s global admin at Microsoft;
    returns the response to the callback."""

    def go(tenant, client=None):
        client = client or customer
        microsoft.admin_of = tenant.id if tenant is not None else None
        start = client.get("/microsoft365/connect")
        assert start.status_code == 303, start.get_data(as_text=True)[:300]
        at_microsoft = requests.get(start.headers["Location"], allow_redirects=False, timeout=10,
                                    verify=standin.ca_file)
        assert at_microsoft.status_code == 302, at_microsoft.text
        back = urlsplit(at_microsoft.headers["Location"])
        return client.get(f"{back.path}?{back.query}")

    return go


def link_of(account):
    with db.database.connection_context():
        return TenantLink.get_or_none(TenantLink.account == account.id)
