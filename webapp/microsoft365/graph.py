"""Talking to Microsoft: an app token from the Microsoft identity platform (MSAL's
ConfidentialClientApplication.acquire_token_for_client) and plain HTTP GETs to Microsoft Graph.

The token lives in a local variable for one reading of one tenant and is never stored: MSAL's cache
is the in-memory one of an application object made for that reading and dropped after it. Pages are
followed through `@odata.nextLink` (only on the Graph host: a token is never sent elsewhere); a 429
is retried after its `Retry-After`, within limits.
"""
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import msal
import requests

# The resource Graph tokens are asked for: Microsoft's identifier, not the URL the requests go to.
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
# AADSTS codes that mean the provider's own app credentials are wrong, not the tenant's consent:
# an invalid client secret, an expired one, an app id Microsoft does not know at all.
CREDENTIAL_ERRORS = {7000215, 7000222, 7000216}


class GraphError(Exception):
    """Reading a tenant failed for a reason that may pass (network, a 5xx, too many 429s): try again later."""


class ConsentMissing(GraphError):
    """The tenant does not let the app in: consent never given or withdrawn (401, 403, an AADSTS error)."""


class BadCredentials(GraphError):
    """Microsoft refused the provider's own client id or secret: the settings need fixing."""


@dataclass(frozen=True)
class Settings:
    """What reading a tenant needs, from the app's configuration (config.py validates it)."""

    client_id: str
    client_secret: str
    login_url: str
    graph_url: str
    timeout: float = 30
    max_retries: int = 5
    max_retry_after: float = 120

    @classmethod
    def from_config(cls, config):
        return cls(
            client_id=config["M365_CLIENT_ID"], client_secret=config["M365_CLIENT_SECRET"],
            login_url=config["M365_LOGIN_URL"].rstrip("/"), graph_url=config["M365_GRAPH_URL"].rstrip("/"),
            timeout=config["M365_TIMEOUT"], max_retries=config["M365_MAX_RETRIES"],
            max_retry_after=config["M365_MAX_RETRY_AFTER"],
        )


@dataclass(frozen=True)
class TenantReading:
    """What Graph said about one tenant: its organization, subscriptions and subscribed SKUs (JSON items)."""

    organization: dict
    subscriptions: list
    subscribed_skus: list


def _token_error(result):
    codes = set(result.get("error_codes") or ())
    message = f"{result.get('error', 'error')}: {result.get('error_description', '')}".strip()
    if codes & CREDENTIAL_ERRORS:
        return BadCredentials(message)
    return ConsentMissing(message)


def app_token(settings, tenant, http):
    """An app-only access token for Graph in `tenant`; ConsentMissing when the tenant refuses the app."""
    try:
        app = msal.ConfidentialClientApplication(
            settings.client_id, client_credential=settings.client_secret,
            authority=f"{settings.login_url}/{tenant}", http_client=http, timeout=settings.timeout,
            # Microsoft's own login host is known to MSAL; another one (a sovereign cloud, the test stand-in)
            # is taken as configured rather than checked against Microsoft's instance list.
            instance_discovery=settings.login_url == DEFAULT_LOGIN_URL,
        )
        result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    except requests.RequestException as error:
        raise GraphError(f"could not reach {urlsplit(settings.login_url).netloc}: {type(error).__name__}") from None
    except ValueError as error:
        # MSAL's "Unable to get authority configuration": the tenant is unknown to the identity platform.
        raise ConsentMissing(f"the tenant is unknown to Microsoft ({error})") from None
    if "access_token" not in result:
        raise _token_error(result)
    return result["access_token"]


def _retry_after(response):
    text = response.headers.get("Retry-After", "")
    return float(text) if text.strip().isdigit() else 1.0


def get_all(settings, http, path, token, sleep=time.sleep):
    """Every item of a Graph collection, following @odata.nextLink and waiting out 429s."""
    url, items, retries = f"{settings.graph_url}{path}", [], 0
    while url:
        if not url.startswith(settings.graph_url + "/"):
            raise GraphError("Graph sent a next page outside its own address; not followed")
        try:
            response = http.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                timeout=settings.timeout)
        except requests.RequestException as error:
            raise GraphError(f"could not reach {urlsplit(url).netloc}: {type(error).__name__}") from None
        if response.status_code == 429:
            wait = _retry_after(response)
            retries += 1
            if retries > settings.max_retries or wait > settings.max_retry_after:
                raise GraphError(f"Graph kept answering 429 (Retry-After {wait:g} s) for {path}")
            sleep(wait)
            continue
        if response.status_code in (401, 403):
            raise ConsentMissing(f"Graph answered {response.status_code} for {path}: {_graph_message(response)}")
        if response.status_code != 200:
            raise GraphError(f"Graph answered {response.status_code} for {path}: {_graph_message(response)}")
        try:
            page = response.json()
        except ValueError:
            raise GraphError(f"Graph answered {path} with something that is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("value"), list):
            raise GraphError(f"Graph's answer for {path} has no list of values")
        items.extend(page["value"])
        url = page.get("@odata.nextLink")
        if url is not None and not isinstance(url, str):
            raise GraphError(f"Graph's next page link for {path} is not a link")
    return items


def _graph_message(response):
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')} {error.get('message', '')}".strip()[:300]
    except (ValueError, AttributeError):
        return response.reason or ""


def read_tenant(settings, tenant, sleep=time.sleep):
    """Prove and read a tenant: an app token for it, its organization (whose id must be `tenant`), then
    its subscriptions and subscribed SKUs. ConsentMissing when the tenant is not what it claims or refuses."""
    with requests.Session() as http:
        token = app_token(settings, tenant, http)
        organizations = get_all(settings, http, "/v1.0/organization", token, sleep)
        organization = next((o for o in organizations if isinstance(o, dict) and o.get("id") == tenant), None)
        if organization is None:
            raise ConsentMissing("the token's organization is not the tenant named")
        subscriptions = get_all(settings, http, "/v1.0/directory/subscriptions", token, sleep)
        skus = get_all(settings, http, "/v1.0/subscribedSkus", token, sleep)
    return TenantReading(organization, subscriptions, skus)
