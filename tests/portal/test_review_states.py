"""Review states on the Client Licenses tab, the banner's count of them, PROOF_MUST_BE_ACCEPTED, and a
banner that names every plan still needing proof (docs/domain.md, "Trust in proof")."""
from datetime import timedelta

import pytest
from helpers import insert_license, page_of, text_of

from config import TestConfig
from webapp import create_app
from webapp.core.filters import day
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion
from webapp.review.store import review_version


def byol(client):
    return text_of(page_of(client.get("/licenses")).find(id="byol-status"))


def status_cell(client, license):
    return text_of(page_of(client.get("/licenses")).find(id=f"license-{license.id}").find("td", attrs={"data-label": "Status"}))


def accept(license):
    with db.database.connection_context():
        review_version(license.current_id, LicenseVersion.ACCEPTED)


@pytest.fixture
def strict_client(app, database_url, user, login):
    """A client of an app whose provider counts accepted proof only."""
    strict = create_app(TestConfig, DATABASE_URL=database_url, WTF_CSRF_ENABLED=False, PROOF_MUST_BE_ACCEPTED=True)
    client = strict.test_client()
    login(client, user.email)
    return client


def test_each_license_says_where_its_proof_stands(customer, account, today):
    pending = insert_license(account, "Office 365 E3", today + timedelta(days=200))
    accepted = insert_license(account, "Office 365 E1", today + timedelta(days=200))
    accept(accepted)
    rejected = insert_license(account, "Office 365 E5", today + timedelta(days=200), rejected="Another tenant.")
    assert status_cell(customer, pending) == f"current Proof awaiting review, submitted {day(today)}"
    assert status_cell(customer, accepted) == "current Proof accepted"
    assert status_cell(customer, rejected) == "proof rejected Proof rejected: Another tenant."


def test_by_default_proof_awaiting_review_counts_and_the_banner_says_how_many(customer, account, today):
    insert_license(account, "Office 365 E3", today + timedelta(days=200))
    accept(insert_license(account, "Office 365 E1", today + timedelta(days=300)))
    text = byol(customer)
    assert text.startswith("BYOL is valid")
    assert "1 of your licenses has its proof awaiting review by staff; meanwhile it counts toward BYOL." in text


def test_with_proof_must_be_accepted_only_accepted_proof_counts(strict_client, account, today):
    license = insert_license(account, "Office 365 E3", today + timedelta(days=200))
    text = byol(strict_client)
    assert text.startswith("BYOL has lapsed")
    assert "The proof for Office 365 E3 counts only once staff accept it." in text
    assert status_cell(strict_client, license).startswith("not counted until accepted")
    assert "counts proof toward BYOL only once staff accept it" in text_of(strict_client.get("/help"))
    accept(license)
    assert byol(strict_client).startswith("BYOL is valid")


def test_once_lapsed_the_banner_names_every_plan_needing_proof(customer, account, today):
    insert_license(account, "Office 365 E3", today - timedelta(days=5))
    insert_license(account, "Office 365 E1", today + timedelta(days=200), rejected="Blurry")
    insert_license(account, "Microsoft 365 Business Standard", today + timedelta(days=10))
    banner = page_of(customer.get("/licenses")).find(id="byol-status")
    items = [" ".join(li.get_text("").split()) for li in banner.find("ul", class_="needing-proof").find_all("li")]
    assert sorted(items) == sorted([f"Office 365 E3: expired {day(today - timedelta(days=5))}",
                                    "Office 365 E1: proof rejected"])
    assert "Updating only one of them does not bring BYOL back." in text_of(banner)


def test_a_single_lapsed_plan_makes_no_such_list(customer, account, today):
    insert_license(account, "Office 365 E3", today - timedelta(days=5))
    insert_license(account, "Office 365 E1", today + timedelta(days=200))
    banner = page_of(customer.get("/licenses")).find(id="byol-status")
    assert banner.find("ul", class_="needing-proof") is None
    assert "Updating only one" not in text_of(banner)
