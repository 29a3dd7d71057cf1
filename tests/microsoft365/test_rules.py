"""The comparison of a license with the tenant's subscriptions (webapp.microsoft365.rules): no app, no database."""
from datetime import date

import pytest

from webapp.microsoft365 import rules, skus
from webapp.microsoft365.rules import Subscription, compare, subscriptions_from

EXPIRES = date(2027, 12, 31)


def sub(sku="ENTERPRISEPACK", total=25, status="Enabled", renews=date(2027, 12, 31), trial=False):
    return Subscription(sku, total, status, renews, trial)


def test_a_license_microsoft_confirms_is_verified():
    verdict = compare("Office 365 E3", 25, EXPIRES, [sub()])
    assert verdict.verified and verdict.findings == ()


@pytest.mark.parametrize(("subscriptions", "said"), [
    ([sub(total=20)], ["Microsoft 365 says 20 licenses"]),
    ([sub(renews=date(2027, 3, 31))], ["renews 31 Mar 2027"]),
    ([sub(status="Warning")], ["Warning: expired, in grace period"]),
    ([sub(status="Suspended", total=25)], ["Suspended: expired, no longer usable"]),
    ([sub(trial=True)], ["trial"]),
    ([sub(sku="STANDARDPACK")], ["Microsoft 365 lists no Office 365 E3 subscription in this tenant"]),
    ([], ["Microsoft 365 lists no Office 365 E3 subscription in this tenant"]),
    ([sub(renews=None)], ["no renewal date"]),
    ([sub(total=1, renews=date(2027, 1, 5))], ["Microsoft 365 says 1 license", "renews 5 Jan 2027"]),
])
def test_what_microsoft_says_instead_field_by_field(subscriptions, said):
    verdict = compare("Office 365 E3", 25, EXPIRES, subscriptions)
    assert not verdict.verified
    assert verdict.texts == said


def test_seats_add_up_over_enabled_paid_subscriptions_that_run_long_enough():
    two = [sub(total=15), sub(total=10)]
    assert compare("Office 365 E3", 25, EXPIRES, two).verified
    # A trial, or one that ends before the date entered, does not count toward the seats.
    assert compare("Office 365 E3", 25, EXPIRES, [sub(total=15), sub(total=10, trial=True)]).texts == [
        "Microsoft 365 says 15 licenses"]
    assert compare("Office 365 E3", 25, EXPIRES, [sub(total=15), sub(total=10, renews=date(2027, 6, 1))]).texts == [
        "Microsoft 365 says 15 licenses"]


def test_the_renewal_may_be_later_than_the_date_entered_but_not_earlier():
    assert compare("Office 365 E3", 25, EXPIRES, [sub(renews=date(2028, 1, 1))]).verified
    assert compare("Office 365 E3", 25, date(2028, 1, 1), [sub(renews=date(2027, 12, 31))]).texts == [
        "renews 31 Dec 2027"]


def test_a_plan_name_is_found_however_it_is_typed():
    for typed in ("Office 365 E3", "office 365  e3", "Office 365 Enterprise E3", "Ｏｆｆｉｃｅ 365 E3"):
        assert skus.part_numbers(typed) == ("ENTERPRISEPACK",), typed
    assert skus.part_numbers("Microsoft 365 Business Standard") == ("O365_BUSINESS_PREMIUM", "SMB_BUSINESS_PREMIUM")
    assert compare("Microsoft 365 Business Standard", 5, EXPIRES, [sub("O365_BUSINESS_PREMIUM", 5)]).verified


def test_a_plan_the_table_does_not_know_is_never_verified():
    verdict = compare("Contoso Custom Plan", 1, EXPIRES, [sub()])
    assert not verdict.verified
    assert "not in the list of Microsoft products" in verdict.texts[0]


def test_the_table_names_the_version_of_microsofts_list():
    assert "October 29, 2025" in skus.source_version()


def test_graph_items_are_read_and_malformed_ones_skipped():
    items = [
        {"skuPartNumber": "ENTERPRISEPACK", "totalLicenses": 25, "status": "Enabled",
         "nextLifecycleDateTime": "2027-12-31T23:59:59Z", "isTrial": False},
        {"skuPartNumber": None},
        "not an object",
        {"skuPartNumber": "SPB", "totalLicenses": True, "status": 3, "nextLifecycleDateTime": "someday", "isTrial": "yes"},
    ]
    assert subscriptions_from(items) == [
        Subscription("ENTERPRISEPACK", 25, "Enabled", date(2027, 12, 31), False),
        Subscription("SPB", 0, "", None, False),
    ]


@pytest.mark.parametrize(("text", "tenant"), [
    ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
    ("72f988bf-86f1-41af-91ab-2d7cd011db47\n", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
    ("contoso.onmicrosoft.com", None), ("", None), (None, None), ("72f988bf-86f1-41af-91ab-2d7cd011db4\u202e7", None),
])
def test_only_a_guid_is_a_tenant(text, tenant):
    assert rules.tenant_id(text) == tenant
