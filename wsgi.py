"""Entry point for `flask` (found automatically in the project root) and gunicorn (`wsgi:app`)."""
import sys

from config import ConfigError
from webapp import create_app

try:
    app = create_app()
except ConfigError as error:  # a setting to fix, not a bug: one line, no traceback
    sys.exit(f"Configuration error: {error}")
