"""HTTP-level protection: response headers on every answer, and trusting a TLS proxy when told to."""
from flask import request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'self'; object-src 'none'"
)
# The portal uses none of these browser features; nothing it serves may ask for them.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def register(app):
    proxies = app.config["PROXY_COUNT"]
    if proxies > 0:
        # The proxy terminates TLS: believe its X-Forwarded-* headers, so that request.is_secure,
        # external URLs and Flask-WTF's HTTPS referrer check see what the browser sees.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    hsts = f"max-age={app.config['HSTS_MAX_AGE']}" if app.config["SESSION_COOKIE_SECURE"] else None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if hsts:
            headers.setdefault("Strict-Transport-Security", hsts)
        if request.endpoint != "static" and current_user.is_authenticated:
            # A signed-in page holds a customer's data: no browser or proxy may keep a copy.
            if "no-store" not in headers.get("Cache-Control", ""):
                headers["Cache-Control"] = "no-store"
        return response
