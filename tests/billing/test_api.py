"""The billing API: bearer tokens (shown once, stored hashed, revocable), pages, errors as JSON, a rate
limit, an OpenAPI 3.1 document the live app keeps to (schemathesis), and the same rows as the page,
the CSV and the CLI."""
import csv
import hashlib
import io
import json
import threading
from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from conftest import skip_or_fail
from helpers import insert_license, reject
from werkzeug.serving import WSGIRequestHandler, make_server

from config import TestConfig
from webapp import create_app
from webapp.billing import api_tokens
from webapp.billing.models import ApiToken
from webapp.core.limiter import Counter
from webapp.extensions import db


def create_token(runner, name="invoicing"):
    result = runner.invoke(args=["create-api-token", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def token(runner):
    return create_token(runner)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_shown_once_and_stored_only_as_its_hash(runner, token):
    assert len(token) >= 43
    with db.database.connection_context():
        (row,) = ApiToken.select()
        stored = [str(getattr(row, f.name)) for f in ApiToken._meta.sorted_fields]
    assert row.name == "invoicing" and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in value for value in stored)
    again = runner.invoke(args=["create-api-token", "invoicing"])
    assert again.exit_code == 1 and "exists" in again.output


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer " + "x" * 5000,
    "Bearer tøken",
])
def test_without_a_valid_token_the_api_says_401(client, token, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/api/v1/billing", headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "A valid bearer token is required."}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused(client, runner, token):
    assert client.get("/api/v1/billing", headers=bearer(token)).status_code == 200
    result = runner.invoke(args=["revoke-api-token", "invoicing"])
    assert result.exit_code == 0 and "Revoked" in result.output
    assert client.get("/api/v1/billing", headers=bearer(token)).status_code == 401
    assert runner.invoke(args=["revoke-api-token", "invoicing"]).exit_code == 1


def test_pages_of_the_report(client, token, accounts):
    seen, page = [], 1
    while page:
        response = client.get(f"/api/v1/billing?per_page=4&page={page}", headers=bearer(token))
        assert response.status_code == 200
        body = response.json
        assert (body["page"], body["per_page"]) == (page, 4)
        seen += [row["account"] for row in body["accounts"]]
        page = body["next_page"]
    assert len(seen) == 6 == len(set(seen))
    byol = client.get("/api/v1/billing?mode=BYOL&per_page=1&page=2", headers=bearer(token)).json
    assert [row["account"] for row in byol["accounts"]] == ["Alpine Ski House"] and byol["next_page"] is None


@pytest.mark.parametrize("query", [
    "cycle=2027-13", "cycle=", "cycle=1899-12", "cycle=%EF%BC%92027-01", "mode=byol", "page=0", "page=-1",
    "page=abc", "page=100001", "per_page=501", "per_page=0", "per_page=1.5", "page=%D9%A1", "cylce=2027-01",
    "page=1&page=2", "mode=BYOL&mode=Subscription",
])
def test_a_bad_parameter_gets_400_as_json(client, token, query):
    response = client.get(f"/api/v1/billing?{query}", headers=bearer(token))
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.json["error"]


def test_the_api_is_read_only(client, token):
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/api/v1/billing", headers=bearer(token)).status_code == 405


def test_the_rate_limit_counts_per_token_and_resets_after_the_window(app, client, runner, token):
    app.config["API_RATE_LIMIT"] = 3
    other = create_token(runner, "second system")
    statuses = [client.get("/api/v1/billing", headers=bearer(token)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/billing", headers=bearer(token))
    assert limited.json == {"error": "Too many requests with this token."}
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert client.get("/api/v1/billing", headers=bearer(other)).status_code == 200
    with db.database.connection_context():
        later = datetime.utcnow() + timedelta(seconds=61)
        assert api_tokens.use_token(token, 3, now=later) == api_tokens.ALLOWED


def test_the_default_cycle_is_the_month_after_the_app_clock_s_business_date(app, client, token):
    """The API's today is the one clock's: the CLOCK setting in BUSINESS_TIMEZONE, not the server's date."""
    app.config.update(CLOCK=lambda: datetime(2031, 5, 31, 12, 30), BUSINESS_TIMEZONE="Pacific/Auckland")
    assert client.get("/api/v1/billing", headers=bearer(token)).json["cycle"] == "2031-07"  # 1 June in Auckland
    app.config["BUSINESS_TIMEZONE"] = "UTC"
    assert client.get("/api/v1/billing", headers=bearer(token)).json["cycle"] == "2031-06"


def test_two_requests_at_once_cannot_both_take_the_last_slot(app, token):
    limit = 5
    outcomes = []

    def use():
        with db.database.connection_context():
            outcomes.append(api_tokens.use_token(token, limit))

    threads = [threading.Thread(target=use) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count(api_tokens.ALLOWED) == limit
    assert outcomes.count(api_tokens.LIMITED) == 12 - limit


def test_flask_purge_sessions_purges_spent_rate_limit_counters_and_keeps_live_ones(app, client, runner, token):
    other = create_token(runner, "second system")
    for used in (token, other):
        assert client.get("/api/v1/billing", headers=bearer(used)).status_code == 200
    with db.database.connection_context():
        # Older than every kind's window (the counters of sign-ins and reset requests share the table).
        Counter.update(window_start=datetime.utcnow() - timedelta(hours=1)).execute()
    assert client.get("/api/v1/billing", headers=bearer(other)).status_code == 200  # a new window, under way

    result = runner.invoke(args=["purge-sessions"])

    assert result.exit_code == 0, result.output
    with db.database.connection_context():
        (live,) = Counter.select()
        assert live.hits == 1 and live.window_start > datetime.utcnow() - timedelta(minutes=1)
    app.config["API_RATE_LIMIT"] = 1
    assert client.get("/api/v1/billing", headers=bearer(token)).status_code == 200  # counting starts over
    assert client.get("/api/v1/billing", headers=bearer(token)).status_code == 429


def test_the_openapi_document_is_31_and_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/api/v1/billing", "/api/v1/openapi.json"}


# The `verified` column: JSON true/false/null, the CSV's yes/no/empty.
VERIFIED_WORDS = {True: "yes", False: "no", None: ""}


def test_page_csv_cli_and_api_agree_row_for_row(app, client, runner, admin, login, token, accounts, make_account, today):
    late = make_account("Late Proof Ltd")
    license = insert_license(late, submitted_at=datetime(2020, 1, 1))
    reject(license, datetime.utcnow() - timedelta(days=1))
    login(client, admin.email)
    for cycle in (None, f"{today.year}-{today.month:02d}", "2020-02"):
        suffix = f"?cycle={cycle}" if cycle else ""
        api = client.get(f"/api/v1/billing{suffix}{'&' if cycle else '?'}per_page=500", headers=bearer(token)).json
        from_api = [(str(r["account_id"]), r["cycle_start"], r["mode"], r["reason"], str(r["byol_seats"]),
                     r["earliest_expiration"] or "", r["account_status"], VERIFIED_WORDS[r["verified"]])
                    for r in api["accounts"]]
        cli = runner.invoke(args=["billing-report", "--format", "csv"] + (["--cycle", cycle] if cycle else []))
        from_cli = [(r["account_id"], r["cycle_start"], r["mode"], r["reason"], r["byol_seats"],
                     r["earliest_expiration"], r["account_status"], r["verified"])
                    for r in csv.DictReader(io.StringIO(cli.stdout))]
        csv_text = client.get(f"/admin/billing.csv{suffix}").get_data(as_text=True)
        from_csv = [(r["account_id"], r["cycle_start"], r["mode"], r["reason"], r["byol_seats"],
                     r["earliest_expiration"], r["account_status"], r["verified"])
                    for r in csv.DictReader(io.StringIO(csv_text))]
        page = BeautifulSoup(client.get(f"/admin/billing{suffix}").get_data(as_text=True), "html.parser")
        # Dates as machines read them: the <time datetime> attribute (people read "1 Jan 2027").
        from_page = [
            (tr["data-account-id"], *[td.time["datetime"] if td.time else " ".join(td.get_text(" ").split())
                                      for td in tr.find_all("td")[1:]])
            for tr in page.find(id="billing").find("tbody").find_all("tr") if tr.get("data-account-id")
        ]
        from_page = [(i, start, mode.removesuffix(" (can still change)"), reason, seats,
                      "" if expires == "—" else expires, status, "" if verified == "—" else verified)
                     for i, start, mode, reason, seats, expires, status, verified in from_page]
        assert len(from_api) == 7
        assert from_api == from_cli == from_csv == from_page, cycle
        assert json.loads(runner.invoke(args=["billing-report", "--format", "json"] + (
            ["--cycle", cycle] if cycle else [])).stdout)["accounts"] == api["accounts"]


# -- schemathesis against the live app -------------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live_api(database_url, accounts):  # noqa: F811
    """The app served on a free port from a thread, with data and a token."""
    # The portal answers only at its PORTAL_URL's host (TRUSTED_HOSTS; the port is not compared).
    app = create_app(TestConfig, DATABASE_URL=database_url, API_RATE_LIMIT=100_000, PORTAL_URL="http://127.0.0.1")
    with app.app_context():
        with db.database.connection_context():
            token = api_tokens.create_token("schemathesis")
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", token
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_api):
    try:
        import schemathesis
    except ImportError:
        skip_or_fail("schemathesis is not installed (pip install -e '.[test]')")
    from hypothesis import HealthCheck, given, settings

    url, token = live_api
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")

    @schema.auth()
    class Bearer:
        """The token through schemathesis's own auth hook, so it knows when a case goes without it
        on purpose (adding it behind its back turned those into "invalid request accepted")."""

        def get(self, case, context):
            return token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), **bearer(data)}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert "GET /api/v1/billing" in [operation.label for operation in operations]
    calls = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                calls.append(case.call_and_validate(base_url=url).status_code)

            check()
    assert len(calls) >= 40 * len(operations)
    assert calls.count(200) >= 40  # the token reached the API: positive cases were answered, not all 401
