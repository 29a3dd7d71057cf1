"""The Client Licenses portal."""
from flask import Flask

from config import Config

from . import cli, errors, filters
from .admin import bp as admin_bp
from .api import bp as api_bp
from .auth import bp as auth_bp
from .extensions import csrf, db, htmx, login_manager, mail
from .feeds import bp as feeds_bp
from .models import open_database
from .portal import bp as portal_bp


def create_app(config_class=Config, **overrides):
    """Build the app from a config class and optional overrides (the tests use both)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(config_class)
    app.config.update(overrides)
    Config.finalize(app.config)
    app.config["DATABASE"] = open_database(app.config["DATABASE_URL"], pool=app.config["DATABASE_POOL"])

    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    mail.init_app(app)
    htmx.init_app(app)

    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    # The API takes no cookies and no forms (bearer tokens, GET only), so CSRF has nothing to guard.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(feeds_bp, url_prefix="/feeds")
    errors.register(app)
    filters.register(app)
    cli.register(app)

    @app.context_processor
    def provider():
        return {
            "provider_name": app.config["PROVIDER_NAME"],
            "support_email": app.config["SUPPORT_EMAIL"],
        }

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'self'; object-src 'none'",
        )
        return response

    return app
