"""The weekly staff digest (`flask send-digest`): what needs staff, gathered from the features, in one email
to STAFF_DIGEST_TO. A digest with nothing to report still goes out and says so: silence means a broken cron."""
from .digest import DIGEST_DAYS, StaffDigest, digest_email, gather

__all__ = ["DIGEST_DAYS", "StaffDigest", "digest_email", "gather"]
