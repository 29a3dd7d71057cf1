"""Scale-out, shown: the web tier keeps no state of its own. Two real app servers (two processes, each a
werkzeug server on 127.0.0.1) share one database (the suite's: PostgreSQL with TEST_DATABASE_URL, else
one SQLite file): a session made on one is valid on the other, logging out on one ends it on both, a
throttle counted on one refuses on the other, and two reminder runs, one per server, send each reminder
once. It runs on both databases, never skipped."""
import http.client
import os
import socket
import subprocess
import sys
from datetime import date, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import PASSWORD

from helpers import PRODUCTION_TOTP_KEY

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
TODAY = date(2026, 3, 10)

SERVER = """
import sys
from werkzeug.serving import make_server
from config import TestConfig
from webapp import create_app

database_url, port, portal_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = create_app(TestConfig, DATABASE_URL=database_url, PORTAL_URL=portal_url, WTF_CSRF_ENABLED=False,
                 LOGIN_MAX_FAILURES_PER_EMAIL=3, LOGIN_MAX_FAILURES_PER_ADDRESS=100)
server = make_server("127.0.0.1", port, app, threaded=True)
print("listening", flush=True)
server.serve_forever()
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """Cookies kept across servers, as one browser behind a load balancer would send them."""

    def __init__(self):
        self.cookies = {}

    def request(self, port, method, path, form=None):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=urlencode(form) if form is not None else None, headers=headers)
        response = connection.getresponse()
        response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        connection.close()
        return response.status, response.headers.get("Location", "")


@pytest.fixture
def two_servers(app, database_url):
    ports = [free_port(), free_port()]
    portal_url = f"http://127.0.0.1:{ports[0]}"  # one portal address; both servers answer for its host
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", SERVER, database_url, str(port), portal_url], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for port in ports]
    try:
        for process in processes:
            line = process.stdout.readline()
            assert line.strip() == "listening", process.stderr.read()
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def test_sessions_logout_and_throttles_hold_across_two_servers(two_servers, user):
    one, other = two_servers
    browser = Browser()
    assert browser.request(one, "POST", "/login", {"email": user.email, "password": PASSWORD}) == (302, "/licenses")
    assert browser.request(other, "GET", "/licenses")[0] == 200  # made on one, valid on the other

    assert browser.request(other, "POST", "/logout")[0] == 302  # logged out on the other ...
    replay = Browser()
    replay.cookies = dict(browser.cookies)
    assert browser.request(one, "GET", "/licenses")[0] == 302  # ... ended on both
    assert replay.request(other, "GET", "/licenses")[0] == 302

    guesser = Browser()
    for _ in range(3):  # LOGIN_MAX_FAILURES_PER_EMAIL, counted on one server
        assert guesser.request(one, "POST", "/login", {"email": user.email, "password": "wrong guess"})[0] == 401
    assert Browser().request(other, "POST", "/login", {"email": user.email, "password": PASSWORD})[0] == 429


def test_two_reminder_runs_one_per_server_send_each_reminder_once(app, database_url, smtp_server, account,
                                                                   add_license):
    for n in range(30):
        add_license(account, f"Office 365 plan {n}", TODAY + timedelta(days=5 + n % 20), f"contact{n}@northwind.example")

    def run_on_a_server():
        env = {**os.environ, "DATABASE_URL": database_url, "MAIL_SERVER": smtp_server.host,
               "MAIL_PORT": str(smtp_server.port), "MAIL_TIMEOUT": "10", "PORTAL_ENV": "production",
               "MAIL_DEFAULT_SENDER": "licenses@example-hosting.test", "PORTAL_URL": "http://portal.test",
               "SECRET_KEY": "scale-out-test-key-of-32-bytes-or-more", "TOTP_ENCRYPTION_KEYS": PRODUCTION_TOTP_KEY,
               "REMINDER_BATCH_SIZE": "4"}
        return subprocess.Popen([FLASK, "send-reminders", "--today", TODAY.isoformat()], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    runs = [run_on_a_server(), run_on_a_server()]
    outputs = [run.communicate(timeout=180) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    recipients = [address for addresses, _ in smtp_server.messages for address in addresses]
    assert sorted(recipients) == sorted(f"contact{n}@northwind.example" for n in range(30))
    sent = [int(out.strip().splitlines()[-1].split()[1].rstrip(",")) for out, _ in outputs]
    assert sum(sent) == 30, outputs
