"""The database connection as production opens it: pooled, shared by a threaded server's threads."""
import threading

from config import TestConfig
from webapp import create_app
from webapp.extensions import db


def test_pooled_connections_serve_requests_from_concurrent_threads(database_url, app, user, login):
    pooled = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, DATABASE_POOL=True)
    client = pooled.test_client()
    first_done, second_done = threading.Event(), threading.Event()
    statuses = {}

    def first():
        statuses["login"] = login(client, user.email).status_code
        statuses["first"] = client.get("/licenses").status_code
        first_done.set()
        # Stay alive, as a keep-alive connection's thread does: a dead thread's id is reused,
        # which would hide a connection crossing threads.
        second_done.wait(10)

    def second():
        first_done.wait(10)
        statuses["second"] = client.get("/licenses").status_code
        second_done.set()

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(15)
    finally:
        db.database.close_all()
    assert statuses == {"login": 302, "first": 200, "second": 200}
