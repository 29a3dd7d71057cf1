"""A stand-in for Microsoft: the identity platform and Microsoft Graph, as far as the portal uses them,
served over real HTTPS (certificates from trustme) on 127.0.0.1, following the published contract:

- `GET /{tenant}/v2.0/.well-known/openid-configuration`: the OpenID configuration MSAL reads first
  (400 `invalid_tenant`, AADSTS90002, for a tenant that does not exist);
- `GET /organizations/v2.0/adminconsent`: the admin-consent page. It "signs in" as the global admin the
  test chose and redirects to `redirect_uri` with `admin_consent=True&tenant=…&state=…&scope=…`, or with
  `error=…&error_description=…&state=…` when the test says the admin declined;
- `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant (AADSTS7000215 for a wrong secret,
  AADSTS700016 when the tenant has not consented to the app);
- `GET /v1.0/organization`, `/v1.0/directory/subscriptions`, `/v1.0/subscribedSkus`: Graph collections,
  paged with `@odata.nextLink`, 429 with `Retry-After` when a test asks for throttling, 401 once consent is
  withdrawn (the token was issued before).

The JSON shapes are Graph v1.0's (organization, companySubscription, subscribedSku), and
test_standin_contract.py checks them against Microsoft's own msgraph-sdk models.
"""
import json
import secrets
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def subscription(sku="ENTERPRISEPACK", total=25, status="Enabled", renews="2027-12-31T23:59:59Z", trial=False):
    """A companySubscription as Graph v1.0 returns it."""
    return {
        "id": str(uuid.uuid4()),
        "commerceSubscriptionId": str(uuid.uuid4()),
        "createdDateTime": "2025-01-01T00:00:00Z",
        "isTrial": trial,
        "nextLifecycleDateTime": renews,
        "ownerId": None,
        "ownerTenantId": None,
        "ownerType": None,
        "serviceStatus": [{"servicePlanId": str(uuid.uuid4()), "servicePlanName": "EXCHANGE_S_ENTERPRISE",
                           "provisioningStatus": "Success", "appliesTo": "User"}],
        "skuId": str(uuid.uuid4()),
        "skuPartNumber": sku,
        "status": status,
        "totalLicenses": total,
    }


def subscribed_sku(tenant, sku="ENTERPRISEPACK", enabled=25, consumed=20):
    """A subscribedSku as Graph v1.0 returns it."""
    sku_id = str(uuid.uuid4())
    return {
        "accountId": tenant,
        "accountName": "Contoso",
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": consumed,
        "id": f"{tenant}_{sku_id}",
        "prepaidUnits": {"enabled": enabled, "lockedOut": 0, "suspended": 0, "warning": 0},
        "servicePlans": [{"servicePlanId": str(uuid.uuid4()), "servicePlanName": "EXCHANGE_S_ENTERPRISE",
                          "provisioningStatus": "Success", "appliesTo": "User"}],
        "skuId": sku_id,
        "skuPartNumber": sku,
        "subscriptionIds": [str(uuid.uuid4())],
    }


@dataclass
class Tenant:
    """One Microsoft 365 organization as the stand-in knows it."""

    id: str
    display_name: str
    subscriptions: list
    skus: list = field(default_factory=list)
    consented: bool = False


@dataclass
class Microsoft:
    """The stand-in's state; tests change it between requests."""

    base_url: str = ""
    login_base: str = ""
    client_id: str = "11111111-2222-3333-4444-555555555555"
    client_secret: str = "stand-in-secret"
    tenants: dict = field(default_factory=dict)
    # Who signs in at the admin-consent page: a tenant id, or None to decline.
    admin_of: str | None = None
    decline_with: tuple = ("access_denied", "AADSTS65004: User declined to consent to access the app.")
    # The tenant value the consent redirect carries; None sends the admin's own (a forged one tests the proof).
    forged_tenant: str | None = None
    page_size: int = 100
    # {path: how many 429s to answer before serving it}
    throttle: dict = field(default_factory=dict)
    retry_after: str = "1"
    tokens: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_tenant(self, display_name="Contoso", subscriptions=None, skus=None, consented=False):
        tenant = Tenant(str(uuid.uuid4()), display_name, list(subscriptions if subscriptions is not None
                                                               else [subscription()]),
                        consented=consented)
        tenant.skus = list(skus if skus is not None else [subscribed_sku(tenant.id)])
        self.tenants[tenant.id] = tenant
        return tenant

    def reset(self):
        self.tenants.clear()
        self.admin_of = self.forged_tenant = None
        self.page_size = 100
        self.throttle.clear()
        self.retry_after = "1"
        self.tokens.clear()
        self.requests.clear()
        self.client_secret = "stand-in-secret"

    def paths(self):
        return [path for _, path in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server_version = "MicrosoftStandIn/1.0"

    def log_message(self, *args):  # quiet
        pass

    @property
    def ms(self):
        return self.server.microsoft

    def _send(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _aad_error(self, status, error, code, description):
        self._send(status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                            "error_codes": [code], "timestamp": "2026-12-07 10:00:00Z",
                            "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.ms.lock:
            self.ms.requests.append(("GET", url.path))
        parts = url.path.strip("/").split("/")
        if url.path == "/organizations/v2.0/adminconsent":
            return self._admin_consent(query)
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._openid_configuration(parts[0])
        if url.path.startswith("/v1.0/"):
            return self._graph(url.path, query)
        self._send(404, {"error": {"code": "NotFound", "message": "No such route in the stand-in."}})

    def do_POST(self):
        url = urlsplit(self.path)
        with self.ms.lock:
            self.ms.requests.append(("POST", url.path))
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(parts[0], form)
        self._send(404, {"error": "not_found"})

    def _openid_configuration(self, tenant):
        if tenant not in self.ms.tenants and tenant not in ("organizations", "common"):
            return self._aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.ms.login_base}/{tenant}"
        self._send(200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
        })

    def _admin_consent(self, query):
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        if query.get("client_id") != self.ms.client_id or query.get("scope") != GRAPH_SCOPE or not redirect_uri:
            return self._aad_error(400, "invalid_request", 900144, "The request body must contain client_id, "
                                   "scope and redirect_uri as registered.")
        tenant = self.ms.tenants.get(self.ms.admin_of)
        if tenant is None:
            error, description = self.ms.decline_with
            answer = {"error": error, "error_description": description, "state": state}
        else:
            tenant.consented = True
            answer = {"admin_consent": "True", "tenant": self.ms.forged_tenant or tenant.id, "state": state,
                      "scope": GRAPH_SCOPE}
        self._send(302, headers={"Location": f"{redirect_uri}?{urlencode(answer)}"})

    def _token(self, tenant_id, form):
        if form.get("grant_type") != "client_credentials" or form.get("scope") != GRAPH_SCOPE:
            return self._aad_error(400, "invalid_request", 70011, "The provided request must include a valid scope.")
        if form.get("client_id") != self.ms.client_id:
            return self._aad_error(400, "unauthorized_client", 700016, "Application not found in the directory.")
        if form.get("client_secret") != self.ms.client_secret:
            return self._aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        tenant = self.ms.tenants.get(tenant_id)
        if tenant is None:
            return self._aad_error(400, "invalid_request", 90002, f"Tenant '{tenant_id}' not found.")
        if not tenant.consented:
            return self._aad_error(400, "unauthorized_client", 700016,
                                   f"Application with identifier '{self.ms.client_id}' was not found in the "
                                   f"directory '{tenant.display_name}'.")
        token = secrets.token_urlsafe(24)
        with self.ms.lock:
            self.ms.tokens[token] = tenant.id
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    def _graph(self, path, query):
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        tenant = self.ms.tenants.get(self.ms.tokens.get(token)) if scheme == "Bearer" else None
        if tenant is None:
            return self._send(401, {"error": {"code": "InvalidAuthenticationToken",
                                              "message": "Access token is empty or invalid."}})
        if not tenant.consented:
            return self._send(403, {"error": {"code": "Authorization_RequestDenied",
                                              "message": "Insufficient privileges to complete the operation."}})
        with self.ms.lock:
            left = self.ms.throttle.get(path, 0)
            if left:
                self.ms.throttle[path] = left - 1
        if left:
            return self._send(429, {"error": {"code": "TooManyRequests", "message": "Too many requests."}},
                              {"Retry-After": self.ms.retry_after})
        collections = {
            "/v1.0/organization": ("organization", [self._organization(tenant)]),
            "/v1.0/directory/subscriptions": ("directory/subscriptions", tenant.subscriptions),
            "/v1.0/subscribedSkus": ("subscribedSkus", tenant.skus),
        }
        if path not in collections:
            return self._send(404, {"error": {"code": "Request_ResourceNotFound", "message": "Not found."}})
        name, items = collections[path]
        start = int(query.get("$skiptoken", "0") or 0)
        page = {"@odata.context": f"{self.ms.base_url}/v1.0/$metadata#{name}",
                "value": items[start:start + self.ms.page_size]}
        if start + self.ms.page_size < len(items):
            page["@odata.nextLink"] = f"{self.ms.base_url}{path}?$skiptoken={start + self.ms.page_size}"
        self._send(200, page)

    @staticmethod
    def _organization(tenant):
        return {
            "id": tenant.id,
            "displayName": tenant.display_name,
            "tenantType": "AAD",
            "countryLetterCode": "DE",
            "createdDateTime": "2020-01-01T00:00:00Z",
            "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                                 "isInitial": True, "name": f"{tenant.display_name.lower()}.onmicrosoft.com",
                                 "type": "Managed"}],
        }


class StandIn:
    """The stand-in served over HTTPS on 127.0.0.1 from a thread; `ca_file` is what REQUESTS_CA_BUNDLE points at."""

    def __init__(self, directory):
        self.authority = trustme.CA()
        certificate = self.authority.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self.ca_file = str(directory / "stand-in-ca.pem")
        self.authority.cert_pem.write_to_path(self.ca_file)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        # The login host and the Graph host differ by name (as login.microsoftonline.com and graph.microsoft.com do).
        self.login_url = f"https://localhost:{self.port}"
        self.graph_url = f"https://127.0.0.1:{self.port}"
        self.microsoft = Microsoft(base_url=self.graph_url, login_base=self.login_url)
        self.server.microsoft = self.microsoft
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
