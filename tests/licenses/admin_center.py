"""Screenshots of an admin-center-like "Your products" page with known values, for the OCR tests and
bench/ocr.py: each page rendered by Debian's Chromium at 100%, 125% and 150% zoom (the display scale
a customer's screen uses), saved as PNG and as JPEG at quality 70.

Playwright drives Chromium in a process of its own, so building them works in any test process,
beside the browser tests' own Playwright session or without it.
"""
import io
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ZOOMS = (1.0, 1.25, 1.5)
FORMATS = ("png", "jpeg")
JPEG_QUALITY = 70
VIEWPORT = (1280, 800)


@dataclass(frozen=True)
class Products:
    """What a screenshot says: the values a customer would enter for the plan it shows."""

    plan: str
    seats: int
    expires_on: date
    tenant: str
    # How the page words the date: "Renews on Dec 31, 2027", "Expires on 30 June 2028", ...
    date_label: str
    date_text: str
    # Other products listed beside it (name, licenses), which the check must not take for it.
    others: tuple = ()


SCREENS = (
    Products("Office 365 E3", 25, date(2027, 12, 31), "contoso.onmicrosoft.com",
             "Renews on", "Dec 31, 2027", others=(("Microsoft Teams Exploratory", 3),)),
    Products("Microsoft 365 Business Premium", 1200, date(2028, 6, 30), "northwind-traders.onmicrosoft.com",
             "Expires on", "30 June 2028", others=(("Power BI Pro", 40), ("Exchange Online (Plan 1)", 12))),
    Products("Office 365 E5", 8, date(2027, 3, 15), "fabrikam.onmicrosoft.com",
             "Subscription end date", "03/15/2027"),
)


@dataclass(frozen=True)
class Screenshot:
    products: Products
    zoom: float
    format: str
    content: bytes

    @property
    def media_type(self):
        return f"image/{self.format}"

    @property
    def name(self):
        return f"{self.products.plan} at {self.zoom:.0%} as {self.format.upper()}"


def page_html(products):
    """The "Your products" page of an admin center that shows `products`."""
    seats = f"{products.seats:,}"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{count}</td><td>{count}</td><td><span class=ok>Active</span></td></tr>"
        for name, count in ((products.plan, seats), *products.others)
    )
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Your products</title><style>
  body {{ margin: 0; font-family: "DejaVu Sans", "Liberation Sans", sans-serif; color: #242424; background: #faf9f8; }}
  header {{ background: #0f6cbd; color: #fff; padding: 10px 20px; font-size: 15px; font-weight: 600; }}
  nav {{ position: absolute; top: 40px; bottom: 0; width: 200px; background: #f0f0f0; padding: 16px; font-size: 13px; }}
  nav p {{ margin: 0 0 14px; }}
  main {{ margin-left: 232px; padding: 18px 28px; }}
  .crumbs {{ font-size: 12px; color: #616161; }}
  h1 {{ font-size: 24px; font-weight: 600; margin: 6px 0 18px; }}
  table {{ border-collapse: collapse; font-size: 13px; width: 760px; background: #fff; }}
  th, td {{ text-align: left; padding: 9px 12px; border-bottom: 1px solid #e0e0e0; }}
  th {{ font-weight: 600; color: #424242; }}
  .ok {{ color: #107c10; }}
  .details {{ margin-top: 22px; background: #fff; width: 736px; padding: 16px 24px; font-size: 13px; }}
  .details h2 {{ font-size: 17px; margin: 0 0 14px; }}
  .grid {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px 24px; }}
  .label {{ color: #616161; font-size: 12px; margin-bottom: 4px; }}
  .value {{ font-size: 14px; font-weight: 600; }}
</style></head><body>
<header>Microsoft 365 admin center</header>
<nav><p>Home</p><p>Users</p><p>Teams &amp; groups</p><p><b>Billing</b></p><p>Your products</p><p>Licenses</p>
<p>Bills &amp; payments</p><p>Settings</p></nav>
<main>
  <div class=crumbs>Home &gt; Your products</div>
  <h1>Your products</h1>
  <table><thead><tr><th>Product name</th><th>Assigned licenses</th><th>Purchased quantity</th><th>Subscription status</th>
  </tr></thead><tbody>{rows}</tbody></table>
  <section class=details>
    <h2>{escape(products.plan)}</h2>
    <div class=grid>
      <div><div class=label>Subscription status</div><div class=value>Active</div></div>
      <div><div class=label>Licenses</div><div class=value>{seats}</div></div>
      <div><div class=label>{escape(products.date_label)}</div><div class=value>{escape(products.date_text)}</div></div>
      <div><div class=label>Billing frequency</div><div class=value>Annual</div></div>
      <div><div class=label>Organization domain</div><div class=value>{escape(products.tenant)}</div></div>
      <div><div class=label>Payment method</div><div class=value>Invoice</div></div>
    </div>
  </section>
</main></body></html>"""


def chromium_available():
    return os.access(CHROMIUM, os.X_OK)


def as_jpeg(png, quality=JPEG_QUALITY):
    """A PNG saved again as a JPEG at `quality`."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def screenshots(screens=SCREENS, zooms=ZOOMS):
    """Every screen at every zoom, as PNG and as JPEG (quality 70)."""
    jobs = [(products, zoom) for products in screens for zoom in zooms]
    pngs = render_pngs([(page_html(products), zoom) for products, zoom in jobs])
    shots = []
    for (products, zoom), png in zip(jobs, pngs):
        shots.append(Screenshot(products, zoom, "png", png))
        shots.append(Screenshot(products, zoom, "jpeg", as_jpeg(png)))
    return shots


def render_pngs(pages, timeout=180):
    """Each (html, zoom) drawn in a 1280x800 window at that zoom (device scale factor): PNG bytes.

    One Chromium draws them all, driven by Playwright in a process of its own: a test process may
    already run the browser tests' Playwright session, and the sync API cannot start twice in one.
    """
    with tempfile.TemporaryDirectory(prefix="admin-center-") as directory:
        paths = []
        for number, (html, _) in enumerate(pages):
            paths.append(Path(directory) / f"{number}.html")
            paths[-1].write_text(html, encoding="utf-8")
        subprocess.run(
            [sys.executable, __file__, *(f"{path}={zoom}" for path, (_, zoom) in zip(paths, pages))],
            check=True, timeout=timeout, stdout=subprocess.DEVNULL,
        )
        return [path.with_suffix(".png").read_bytes() for path in paths]


def _render(jobs):
    """In the child: each PAGE.html=ZOOM drawn in a 1280x800 window at that device scale, saved as PAGE.png."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for job in jobs:
            page_path, zoom = job.rsplit("=", 1)
            context = browser.new_context(
                viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, device_scale_factor=float(zoom)
            )
            page = context.new_page()
            page.goto(Path(page_path).as_uri())
            page.screenshot(path=str(Path(page_path).with_suffix(".png")))
            context.close()
        browser.close()


if __name__ == "__main__":
    _render(sys.argv[1:])
