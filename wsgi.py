"""Entry point for `flask` (found automatically in the project root) and gunicorn (`wsgi:app`)."""
from webapp import create_app

app = create_app()
