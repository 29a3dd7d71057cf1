"""The database handle's helpers: opening a DATABASE_URL, and transactions that read then write."""
from peewee import PostgresqlDatabase
from playhouse.db_url import connect as connect_url

from ..extensions import db


def open_database(url, pool=False):
    """A Peewee database for a DATABASE_URL; SQLite gets WAL, foreign keys and a busy timeout.

    With `pool`, connections are kept between requests: opening one per request (a new server
    process on PostgreSQL) cost more than rendering the Client Licenses page.
    """
    scheme, _, rest = url.partition("://")
    params = {}
    if pool or scheme.endswith("+pool"):
        scheme = scheme.removesuffix("+pool") + "+pool"
        params = {"max_connections": 32, "stale_timeout": 300}
    if scheme.startswith("sqlite"):
        # cache_size: 16 MB of pages per connection (SQLite's default is 2 MB). The staff pages read
        # pages spread over the license tables (the expiry timeline, a page's 1,250 licenses), which
        # thrashed the default cache: each request read them from the OS again.
        params["pragmas"] = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "cache_size": -16000}
        if "max_connections" in params:
            # The pool lends a connection to one thread at a time, but not always to the thread
            # that opened it; sqlite3 refuses that unless told the caller keeps it safe.
            params["check_same_thread"] = False
    return connect_url(f"{scheme}://{rest}", **params)

def on_postgresql():
    """True on PostgreSQL, where work that reads then writes locks rows; SQLite has one writer at a time."""
    return isinstance(getattr(db.database, "obj", db.database), PostgresqlDatabase)

def write_transaction():
    """A transaction for reading then writing: on SQLite it takes the write lock at BEGIN, so no other
    writer slips in between; on PostgreSQL the caller locks the rows it reads."""
    return db.database.atomic() if on_postgresql() else db.database.atomic("IMMEDIATE")
