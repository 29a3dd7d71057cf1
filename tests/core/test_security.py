"""Production settings: a strong key, headers on every answer, and running behind a TLS proxy."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import request, url_for
from helpers import PASSWORD, PRODUCTION_TOTP_KEY

from config import Config, ConfigError, TestConfig
from webapp import create_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 32


def production(database_url, **settings):
    settings.setdefault("SECRET_KEY", STRONG_KEY)
    settings.setdefault("TOTP_ENCRYPTION_KEYS", PRODUCTION_TOTP_KEY)
    return create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, PORTAL_ENV="production", **settings)


def hidden_csrf_token(page):
    marker = 'name="csrf_token" type="hidden" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


# --- the secret key ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "k" * 31, "é" * 15])  # 15 × 2 bytes = 30 bytes
def test_production_refuses_a_missing_or_short_secret_key(database_url, key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        production(database_url, SECRET_KEY=key)


def test_production_accepts_a_key_of_32_bytes(database_url):
    assert production(database_url, SECRET_KEY="é" * 16).config["SECRET_KEY"] == "é" * 16


def test_development_still_generates_its_own_key(database_url):
    app = create_app(Config, DATABASE_URL=database_url, DATABASE_POOL=False, PORTAL_ENV="development")
    assert len(app.config["SECRET_KEY"]) >= 32


@pytest.mark.parametrize("key", [None, "too-short"])
def test_flask_command_says_what_is_wrong_in_one_line(tmp_path, key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")
           and k not in {"PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    if key:
        env["SECRET_KEY"] = key
    result = subprocess.run([sys.executable, "-m", "flask", "init-db"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Configuration error: SECRET_KEY")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "portal.sqlite3").exists()


# --- headers ----------------------------------------------------------------------------------


def test_every_answer_carries_the_permissions_policy(client):
    for path in ("/login", "/static/portal.css", "/no-such-page"):
        policy = client.get(path).headers["Permissions-Policy"]
        assert "camera=()" in policy and "geolocation=()" in policy


def test_signed_in_pages_are_never_stored(logged_in, client):
    for path in ("/licenses", "/licenses/new", "/help", "/no-such-page"):
        assert logged_in.get(path).headers["Cache-Control"] == "no-store", path


def test_static_files_may_be_cached_while_signed_in(logged_in):
    response = logged_in.get("/static/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_admin_pages_are_never_stored(client, admin, account, login):
    login(client, admin.email)
    for path in ("/admin/", f"/admin/accounts/{account.id}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_hsts_only_when_cookies_are_secure(database_url, app):
    secure = production(database_url).test_client().get("/login")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = create_app(TestConfig, DATABASE_URL=database_url, SESSION_COOKIE_SECURE=False).test_client()
    assert "Strict-Transport-Security" not in plain.get("/login").headers


# --- behind a TLS proxy -----------------------------------------------------------------------

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example", "X-Forwarded-For": "203.0.113.9"}


def test_forwarded_headers_are_ignored_unless_a_proxy_is_configured(database_url, app):
    # The host of external URLs is PORTAL_URL's either way (SERVER_NAME); only a believed proxy makes it https.
    for proxies, secure, external in ((0, False, "http://portal.example/login"), (1, True, "https://portal.example/login")):
        proxied = production(database_url, PROXY_COUNT=proxies, PORTAL_URL="https://portal.example")
        seen = {}

        @proxied.before_request
        def look():
            seen.update(secure=request.is_secure, external=url_for("auth.login", _external=True),
                        address=request.remote_addr)

        proxied.test_client().get("/login", headers=PROXIED)
        assert seen == {"secure": secure, "external": external,
                        "address": "203.0.113.9" if proxies else "127.0.0.1"}


def test_behind_a_tls_proxy_csrf_checks_the_https_referrer(database_url, user):
    client = production(database_url, PROXY_COUNT=1, WTF_CSRF_ENABLED=True, PORTAL_URL="https://portal.example").test_client()
    page = client.get("/login", headers=PROXIED, base_url="https://portal.example").get_data(as_text=True)
    form = {"email": user.email, "password": PASSWORD, "csrf_token": hidden_csrf_token(page)}

    foreign = client.post("/login", data=form, headers={**PROXIED, "Referer": "https://evil.example/login"},
                          base_url="https://portal.example")
    assert foreign.status_code == 400
    assert "another page" in foreign.get_data(as_text=True)

    own = client.post("/login", data=form, headers={**PROXIED, "Referer": "https://portal.example/login"},
                      base_url="https://portal.example")
    assert own.status_code == 302
