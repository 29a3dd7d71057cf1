"""WCAG 2.2 AA: axe-core scans every page of the portal, in every state a person reaches it in.

SCANS (browser/scans.py) holds one row per page and state: who visits, the path, and what they do
there before the scan. A GET route that serves a page and has no scan fails
test_every_page_has_a_scan, the way a route without a row fails the route matrix
(tests/whole_app/test_route_matrix.py); routes that serve no page (downloads, feeds, JSON,
redirects) are listed in NOT_PAGES with the reason. Adding a scan is one line.

axe.min.js comes from npm (the axe_script fixture), never from the portal: it is put into each page
by Playwright as an init script, which the portal's Content-Security-Policy does not apply to, so the
production CSP stays as it is.
"""
import pytest

from browser.scans import SCANS, visit

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

# GET routes that serve no page to scan, and why.
NOT_PAGES = {
    "portal.index": "redirects to the Client Licenses tab",
    "portal.download_proof": "a proof document download (PDF, PNG or JPEG)",
    "admin.download_proof": "a proof document download (PDF, PNG or JPEG)",
    "admin.proof_preview": "a proof document's preview image",
    "admin.billing_csv": "a CSV download",
    "admin.audit_csv": "a CSV download",
    "api.billing": "JSON for the provider's invoicing",
    "api.openapi_document": "the API's JSON description",
    "feeds.calendar": "an iCalendar feed",
    "microsoft365.connect": "redirects to Microsoft's admin-consent page",
}


def scanned_endpoints(app):
    """The endpoint each scan's path opens first, from the app's own URL map."""
    adapter = app.url_map.bind("portal.test")
    ids = {"license_id": 1, "account_id": 1, "user_id": 1, "token": "x"}
    return {adapter.match(scan.path.split("?")[0].format(**ids), method="GET")[0] for scan in SCANS}


def test_every_page_has_a_scan(app):
    """Like the route matrix: a new page without a scan (or a reason it is not a page) fails here."""
    pages = {
        rule.endpoint for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static"
    }
    scanned = scanned_endpoints(app)
    unscanned = pages - scanned - set(NOT_PAGES)
    assert not unscanned, f"add a Scan to SCANS for each new page (or a reason to NOT_PAGES): {sorted(unscanned)}"
    assert not scanned & set(NOT_PAGES), "a route is both scanned and listed as not a page"
    assert set(NOT_PAGES) <= pages, f"NOT_PAGES names routes that are gone: {sorted(set(NOT_PAGES) - pages)}"
    assert len({scan.name for scan in SCANS}) == len(SCANS), "two scans share a name"


def axe_violations(page):
    """axe-core's WCAG A/AA violations on the page as it is now, one readable line per element."""
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at {node['target']}: "
        f"{node.get('failureSummary', '').splitlines()[-1] if node.get('failureSummary') else ''}"
        for violation in results["violations"]
        for node in violation["nodes"]
    ]


@pytest.fixture
def scanned_page(page, axe_script):
    page.context.add_init_script(path=axe_script)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("scan", SCANS, ids=[scan.name for scan in SCANS])
def test_no_wcag_violations(scanned_page, portal, world, scan):
    visit(scanned_page, portal, world, scan)
    assert scanned_page.evaluate("typeof axe") == "object", "axe-core was not loaded into the page"
    violations = axe_violations(scanned_page)
    assert violations == [], f"{scan.name} ({scanned_page.url}):\n" + "\n".join(violations)


@pytest.mark.browser
def test_the_scan_finds_a_violation(scanned_page, portal, world):
    """The scan is not blind: an image without alternative text, added to a scanned page, is reported."""
    visit(scanned_page, portal, world, SCANS[0])
    scanned_page.evaluate("document.querySelector('main').appendChild(document.createElement('img')).src = '/static/favicon.svg'")
    assert any(line.startswith("image-alt") for line in axe_violations(scanned_page))
