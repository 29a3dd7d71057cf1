"""Fixtures: an app on a real database (a temp SQLite file, or the PostgreSQL in TEST_DATABASE_URL),
its client and CLI runner, a few factories, and a query counter."""
import io
import logging
import os
from contextlib import contextmanager
from datetime import timedelta

import pytest

from config import TestConfig
from webapp import create_app
from webapp.demo import demo_pdf
from webapp.extensions import db
from webapp.licensing import business_today
from webapp.models import MODELS, Account, Product, User, create_tables

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct horse battery staple"


def skip_or_fail(reason):
    """Skip locally when a real part is missing; in CI a missing part is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"


def _empty_database():
    """Start each test from empty tables (TRUNCATE on PostgreSQL, DELETE on SQLite)."""
    database = db.database
    with database.connection_context():
        create_tables()
        tables = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
        if database.__class__.__name__.startswith("Postgres"):
            database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            with database.atomic():
                for model in reversed(MODELS):
                    database.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
        create_tables()  # puts the product list back


@pytest.fixture
def app(database_url):
    app = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False)
    _empty_database()
    yield app
    if not db.database.is_closed():
        db.database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def today(app):
    return business_today(app.config["BUSINESS_TIMEZONE"])


@pytest.fixture
def office365(app):
    with db.database.connection_context():
        return Product.get(Product.name == "MS Office 365")


@pytest.fixture
def make_account(app):
    def make(name="Northwind Traders", **fields):
        with db.database.connection_context():
            return Account.create(name=name, **fields)

    return make


@pytest.fixture
def make_user(app):
    def make(email, account=None, authorized=True, admin=False, name=""):
        with db.database.connection_context():
            user = User(email=email, account=account, is_authorized=authorized, is_admin=admin, name=name)
            user.set_password(PASSWORD)
            user.save()
            return user

    return make


@pytest.fixture
def account(make_account):
    return make_account()


@pytest.fixture
def user(make_user, account):
    return make_user("pat@northwind.example", account=account)


@pytest.fixture
def admin(make_user):
    return make_user("staff@provider.example", admin=True)


@pytest.fixture
def login():
    """Log a test client in as `email`; returns the login response."""

    def log_in(client, email, password=PASSWORD):
        return client.post("/login", data={"email": email, "password": password})

    return log_in


@pytest.fixture
def logged_in(client, user, login):
    login(client, user.email)
    return client


@pytest.fixture
def pdf():
    return demo_pdf("Proof of licensing")


@pytest.fixture
def license_form(today, office365, pdf):
    """A valid Add License submission; tests change one field at a time (None drops a field)."""

    def form(**changes):
        fields = {
            "product": str(office365.id),
            "plan": "Office 365 E3",
            "seats": "25",
            "term": "Yearly",
            "expires_on": (today + timedelta(days=200)).isoformat(),
            "tenant": "northwind.onmicrosoft.com",
            "contact_name": "Pat Doe",
            "contact_email": "pat@northwind.example",
            "proof": (io.BytesIO(pdf), "proof.pdf"),
        }
        fields.update(changes)
        return {k: v for k, v in fields.items() if v is not None}

    return form


class QueryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.queries = []

    def emit(self, record):
        self.queries.append(record.getMessage())


@contextmanager
def count_queries():
    """Collect every SQL statement Peewee runs inside the block."""
    logger = logging.getLogger("peewee")
    handler, level = QueryCounter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.queries
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
