"""Comparing a license with what Microsoft 365 says about the tenant: plain functions, no Flask, no database.

A license is verified when all of these hold (docs/domain.md, "Verified by Microsoft 365"): a
subscription of its SKU is there, `Enabled`, not a trial, with at least its seats in `totalLicenses`,
and a `nextLifecycleDateTime` on or after the expiration date entered. Otherwise the verdict says what
Microsoft says instead, field by field, in the customer's words.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime

from ..core.filters import day
from . import skus

ENABLED = "Enabled"
# companySubscription.status, as Microsoft documents it, in the customer's words.
STATUS_WORDS = {
    "Warning": "Warning: expired, in grace period",
    "Suspended": "Suspended: expired, no longer usable",
    "LockedOut": "Locked out: no longer usable",
    "Deleted": "Deleted",
}
TENANT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def tenant_id(text):
    """The tenant GUID in lower case, or None for anything that is not one (a callback's `tenant` is outside input)."""
    value = (text or "").strip().lower()
    return value if TENANT_ID.match(value) else None


@dataclass(frozen=True)
class Subscription:
    """One companySubscription, as the comparison reads it."""

    sku_part_number: str
    total_licenses: int
    status: str
    next_lifecycle_on: date | None
    is_trial: bool


def lifecycle_date(text):
    """The calendar date (UTC) of a Graph DateTimeOffset such as 2027-03-31T23:59:59Z; None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def subscriptions_from(items):
    """Subscriptions from Graph's /directory/subscriptions `value` items; a malformed item is skipped, not fatal."""
    found = []
    for item in items or ():
        if not isinstance(item, dict) or not isinstance(item.get("skuPartNumber"), str):
            continue
        total = item.get("totalLicenses")
        found.append(Subscription(
            sku_part_number=item["skuPartNumber"],
            total_licenses=total if isinstance(total, int) and not isinstance(total, bool) else 0,
            status=item.get("status") if isinstance(item.get("status"), str) else "",
            next_lifecycle_on=lifecycle_date(item.get("nextLifecycleDateTime")),
            is_trial=item.get("isTrial") is True,
        ))
    return found


@dataclass(frozen=True)
class Verdict:
    """A license against the tenant's subscriptions: verified, or what Microsoft says where it differs."""

    verified: bool
    # (field, what Microsoft 365 says) for each field that differs: plan, status, trial, seats, renewal.
    findings: tuple = ()

    @property
    def texts(self):
        return [text for _, text in self.findings]


def compare(plan, seats, expires_on, subscriptions):
    """The verdict for a license's plan, seats and expiration date against the tenant's subscriptions."""
    parts = {p.upper() for p in skus.part_numbers(plan)}
    if not parts:
        return Verdict(False, (("plan", f"{plan} is not in the list of Microsoft products the portal can check"),))
    matching = [s for s in subscriptions if s.sku_part_number.upper() in parts]
    if not matching:
        product = skus.product_name(plan)
        return Verdict(False, (("plan", f"Microsoft 365 lists no {product} subscription in this tenant"),))
    findings = []
    usable = [s for s in matching if s.status == ENABLED and not s.is_trial]
    if not usable:
        if not any(s.status == ENABLED for s in matching):
            for status in sorted({s.status for s in matching}):
                findings.append(("status", STATUS_WORDS.get(status, f"status {status or 'unknown'}")))
        if all(s.is_trial for s in matching):
            findings.append(("trial", "trial"))
        pool = matching
    else:
        dated = [s for s in usable if s.next_lifecycle_on is not None and s.next_lifecycle_on >= expires_on]
        pool = dated or usable
    total = sum(s.total_licenses for s in pool)
    if seats > total:
        findings.append(("seats", f"Microsoft 365 says {total} license{'' if total == 1 else 's'}"))
    dates = [s.next_lifecycle_on for s in pool if s.next_lifecycle_on is not None]
    if not dates:
        findings.append(("renewal", "no renewal date"))
    elif max(dates) < expires_on:
        findings.append(("renewal", f"renews {day(max(dates))}"))
    return Verdict(not findings, tuple(findings))
