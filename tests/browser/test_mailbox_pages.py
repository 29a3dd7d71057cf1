"""The development mailbox in the browser: its list and a kept email pass the accessibility scan and fit a
phone and a laptop without scrolling sideways (the portal here keeps its mail, as `make run` does)."""
import tempfile

import pytest

from browser.test_accessibility import axe_violations
from webapp.core.mail import send_email

pytestmark = pytest.mark.browser

PORTAL_SETTINGS = {"MAILBOX_DIR": tempfile.mkdtemp(prefix="portal-mailbox-")}
SIZES = ({"width": 390, "height": 844}, {"width": 1280, "height": 800})


def test_the_mailbox_and_a_kept_email_pass_the_scans(page, portal, axe_script):
    with portal.app.app_context():
        send_email("password_reset", "pat@northwind.example", "Set a new password for the Onboarding Portal",
                   name="Pat Doe", email="pat@northwind.example",
                   link=f"{portal.url}/password/set/a-very-long-token-that-must-wrap-on-a-phone-" + "x" * 60,
                   valid_for="1 hour")
    page.context.add_init_script(path=axe_script)
    page.goto(f"{portal.url}/dev/mailbox/")
    page.get_by_role("link", name="Set a new password for the Onboarding Portal").click()
    message_url = page.url
    for url in (f"{portal.url}/dev/mailbox/", message_url):
        for size in SIZES:
            page.set_viewport_size(size)
            page.goto(url)
            assert axe_violations(page) == [], url
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, (url, size)
    page.get_by_role("link", name="Open the HTML version").click()
    assert "Pat Doe" in page.content()
