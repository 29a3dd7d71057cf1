"""Unbound extension instances; create_app binds them to an app."""
from flask_caching import Cache
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from playhouse.flask_utils import FlaskDB

db = FlaskDB()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
htmx = Htmx()
# Rendered fragments kept between requests (webapp.core.fragments).
cache = Cache()
