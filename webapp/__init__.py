"""The Client Licenses portal."""
from flask import Flask

from config import Config, ConfigError

from . import cli
from .admin import bp as admin_bp
from .auth import bp as auth_bp
from .billing.api import bp as api_bp
from .calendar.views import bp as feeds_bp
from .core import errors, filters, fragments, row_urls, secret_box, security
from .core.database import open_database
from .core.row_ids import RowIdConverter

# Aliased: `mail` reads as the email module (webapp.core.mail) everywhere else.
from .extensions import csrf, db, htmx, login_manager
from .extensions import mail as mail_extension
from .microsoft365.views import bp as microsoft365_bp
from .mailbox import bp as mailbox_bp
from .portal import bp as portal_bp


def create_app(config_class=Config, **overrides):
    """Build the app from a config class and optional overrides (the tests use both)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(config_class)
    app.config.update(overrides)
    config_class.finalize(app.config)
    try:
        app.config["DATABASE"] = open_database(app.config["DATABASE_URL"], pool=app.config["DATABASE_POOL"])
    except (RuntimeError, ValueError, ImportError) as error:  # an unknown scheme, a malformed URL
        raise ConfigError(f"DATABASE_URL cannot be used: {error}") from None

    secret_box.init_app(app)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    mail_extension.init_app(app)
    htmx.init_app(app)

    # Before any route: every <int:…> in a URL is an id a database column can hold, or a 404.
    app.url_map.converters["int"] = RowIdConverter
    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(microsoft365_bp, url_prefix="/microsoft365")
    # The API takes no cookies and no forms (bearer tokens, GET only), so CSRF has nothing to guard.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(feeds_bp, url_prefix="/feeds")
    if app.config.get("MAILBOX_DIR"):  # development only (config.py): production has no /dev/mailbox
        app.register_blueprint(mailbox_bp, url_prefix="/dev/mailbox")
    errors.register(app)
    filters.register(app)
    row_urls.register(app)
    fragments.register(app)
    cli.register(app)
    security.register(app)

    @app.context_processor
    def provider():
        return {
            "provider_name": app.config["PROVIDER_NAME"],
            "support_email": app.config["SUPPORT_EMAIL"],
        }

    return app
