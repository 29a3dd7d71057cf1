"""One document read at a time per account, across every gunicorn worker and every web server.

Reading a document holds a worker for up to PROOF_TEXT_SECONDS; without a limit one account posting
uploads in parallel could hold every worker of every server while other customers wait. The limit
lives in the database (as the sign-in throttle's counters do), in one row per account
(licenses.models.DocumentReading): a reading takes it with one conditional upsert whose returned row
decides (inserted, or taken over from a lease that has run out; never from a live one), and deletes
it when it ends, in `finally`. A worker killed mid-reading leaves its row behind, but the lease
runs out on its own a few seconds after the reading's own time limit, so the account is never
blocked for longer than that.
"""
import secrets
from contextlib import contextmanager
from datetime import timedelta

from ..core import clock
from .models import DocumentReading

# Beyond the reading's own time limit: starting the child process, killing and reaping it, the
# database round-trips. Only a killed worker's lease ever lasts this long.
LEASE_SLACK = timedelta(seconds=5)


class ReadingBusy(Exception):
    """Another document of the same account is being read right now; try again in a moment.

    `wait` is how long the other reading's lease may still last at most (a timedelta).
    """

    def __init__(self, wait):
        super().__init__("Another document of this account is being read.")
        self.wait = wait


def lease_length(seconds):
    """How long a reading that may take `seconds` holds its account's lease at most."""
    return timedelta(seconds=seconds) + LEASE_SLACK


def take(account_id, length, now=None):
    """Take the account's reading lease for `length`; returns its holder token, or raises ReadingBusy."""
    now = now or clock.now()
    holder = secrets.token_hex(16)
    expires_at = now + length
    taken = (
        DocumentReading.insert(account=account_id, holder=holder, expires_at=expires_at)
        .on_conflict(
            conflict_target=[DocumentReading.account],
            update={DocumentReading.holder: holder, DocumentReading.expires_at: expires_at},
            # Only a lease that has run out is taken over: a live one keeps its row, and no row comes back.
            where=(DocumentReading.expires_at <= now),
        )
        .returning(DocumentReading.holder)
        .tuples()
        .execute()
    )
    if not list(taken):
        held_until = DocumentReading.select(DocumentReading.expires_at).where(
            DocumentReading.account == account_id
        ).scalar()
        raise ReadingBusy(max((held_until or now) - now, timedelta(0)))
    return holder


def release(account_id, holder):
    """End the reading that holds the account's lease under `holder` (a lease taken over since is left alone)."""
    DocumentReading.delete().where(
        (DocumentReading.account == account_id) & (DocumentReading.holder == holder)
    ).execute()


@contextmanager
def one_at_a_time(account_id, seconds):
    """Hold the account's reading lease while the block reads a document; ReadingBusy if another holds it."""
    holder = take(account_id, lease_length(seconds))
    try:
        yield
    finally:
        release(account_id, holder)
