"""`make screenshots`: every page state the accessibility scans visit (SCANS), at 1280×800 and 390×844,
saved as PNG files in SCREENSHOTS_DIR for people to look at. Not collected unless SCREENSHOTS_DIR is set
(tests/browser/conftest.py): a tool, not a test, and CI refuses skipped tests.
"""
import os
import re
from pathlib import Path

import pytest

from browser.scans import SCANS, visit

pytestmark = pytest.mark.browser

SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
FOLDER = os.environ.get("SCREENSHOTS_DIR")


def file_name(scan, size):
    return re.sub(r"[^a-z0-9]+", "-", scan.name.lower()).strip("-") + f"-{size}.png"


@pytest.mark.parametrize("scan", SCANS, ids=[scan.name for scan in SCANS])
def test_screenshot(page, portal, world, scan):
    folder = Path(FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        if size == "laptop":
            visit(page, portal, world, scan)
        page.screenshot(path=str(folder / file_name(scan, size)), full_page=True)
