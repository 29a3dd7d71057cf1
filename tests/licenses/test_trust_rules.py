"""Trust in proof as pure rules (docs/domain.md): which review states count for BYOL, a version saved
anyway against its document, PROOF_MUST_BE_ACCEPTED, and where an account stands for a message."""
from datetime import date, datetime

import pytest

from webapp.billing.rules import BYOL, SUBSCRIPTION, AccountHistory, Change, Submission, cycle_billing
from webapp.licenses.rules import (
    LicenseTerms,
    Status,
    byol_status,
    counts_as_proof,
    license_status,
    where_account_stands,
)

TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    "review, saved_anyway, must_be_accepted, counts",
    [
        ("pending", False, False, True),   # uploading is what keeps BYOL
        ("pending", True, False, False),   # saved anyway against a document that says otherwise
        ("pending", False, True, False),   # the provider requires acceptance
        ("accepted", True, True, True),
        ("accepted", False, False, True),
        ("rejected", False, False, False),
    ],
)
def test_which_review_states_count_as_proof(review, saved_anyway, must_be_accepted, counts):
    assert counts_as_proof(review, saved_anyway, must_be_accepted) is counts


def test_a_version_not_counted_until_accepted_breaks_byol_from_the_cycle_after_its_submission():
    good = LicenseTerms("Office 365 E3", 25, date(2027, 12, 31))
    unaccepted = LicenseTerms("Office 365 E5", 5, date(2027, 12, 31), unaccepted=True, unaccepted_on=date(2026, 12, 3))
    standing = byol_status([good, unaccepted], TODAY, billing_day=1)
    assert not standing.valid
    assert standing.lapsing.plan == "Office 365 E5"
    assert standing.subscription_from == date(2027, 1, 1) and not standing.already_moved
    assert license_status(unaccepted.expires_on, TODAY, unaccepted=True) is Status.UNACCEPTED
    assert not Status.UNACCEPTED.keeps_byol
    assert byol_status([good], TODAY, billing_day=1).valid


def test_where_the_account_stands_names_every_plan_that_needs_proof():
    expired = LicenseTerms("Office 365 E3", 25, date(2026, 11, 30))
    rejected = LicenseTerms("Office 365 E1", 3, date(2027, 6, 30), rejected=True, rejected_on=date(2026, 12, 1))
    soon = LicenseTerms("Microsoft 365 Business Standard", 10, date(2026, 12, 20))
    byol = byol_status([expired, rejected, soon], TODAY, billing_day=1)
    # A message about the plan expiring soon: BYOL has already lapsed because of the other two.
    position = where_account_stands(byol, "Microsoft 365 Business Standard")
    assert position.lapsed and position.lapsed_by_others and not position.renewal_restores
    assert position.needing_proof == ("Office 365 E3", "Office 365 E1")
    # About the expired one: the rejected one still needs proof, so renewing it alone is not enough.
    position = where_account_stands(byol, "Office 365 E3")
    assert position.lapsed_by_others and not position.renewal_restores
    # With only one plan lapsed, renewing that one brings BYOL back.
    alone = where_account_stands(byol_status([expired, soon], TODAY, billing_day=1), "Office 365 E3")
    assert alone.lapsed and not alone.lapsed_by_others and alone.renewal_restores
    assert alone.needing_proof == ("Office 365 E3",)
    valid = where_account_stands(byol_status([soon], TODAY, billing_day=1), "Microsoft 365 Business Standard")
    assert not valid.lapsed and valid.needing_proof == () and valid.renewal_restores


def _sub(review="pending", saved_anyway=False, reviews=(), submitted_at=datetime(2026, 12, 3, 9)):
    return Submission(1, "Office 365 E5", 5, date(2027, 12, 31), submitted_at, review, tuple(reviews), 1,
                      saved_anyway=saved_anyway)


def test_billing_counts_a_saved_anyway_version_only_from_the_cycle_after_its_acceptance():
    accepted = [Change(datetime(2027, 1, 10, 12), "pending", "accepted")]
    version = _sub("accepted", saved_anyway=True, reviews=accepted)
    history = AccountHistory(1)
    january = cycle_billing(2027, 1, history, [version], date(2027, 2, 15), "UTC")
    assert january.mode == SUBSCRIPTION and january.unaccepted == ("Office 365 E5",)
    assert "proof not yet accepted: Office 365 E5" in january.reason
    february = cycle_billing(2027, 2, history, [version], date(2027, 2, 15), "UTC")
    assert february.mode == BYOL


def test_billing_with_proof_must_be_accepted_counts_proof_awaiting_review_as_missing():
    history = AccountHistory(1)
    assert cycle_billing(2027, 1, history, [_sub()], date(2027, 1, 5), "UTC").mode == BYOL
    required = cycle_billing(2027, 1, history, [_sub()], date(2027, 1, 5), "UTC", must_be_accepted=True)
    assert required.mode == SUBSCRIPTION and required.unaccepted == ("Office 365 E5",)
