"""Counters held in the database: hits per key in a fixed window, for throttles and rate limits.

The counters live in the database so that every gunicorn worker and every web server shares them.
A key counts hits in a fixed window that starts at its first hit. A try is checked with one read
before anything else happens, so a refused try writes nothing (and a refused sign-in costs no
password hash). A try that may go ahead is then counted with an atomic upsert (INSERT ... ON
CONFLICT DO UPDATE ... RETURNING, on SQLite and PostgreSQL alike); the count it returns decides, so
concurrent tries can never get more than the limit past the check.

Built on it: the sign-in throttle (identity/throttle.py: failed sign-ins, reset requests and
second-factor codes) and the billing API's rate limit per token (billing/api_tokens.py). A try is
charged to one or more keys, each with its limit: `limits` below is ((key, limit), ...).
"""
import math
from datetime import timedelta

from peewee import Case, CharField, DateTimeField, IntegerField

from ..extensions import db
from .clock import utcnow
from .secret_tokens import digest


class Counter(db.Model):
    """Hits counted per key in a fixed window from its first hit.

    The key is a SHA-256 of what it counts (an email, a client address, an API token's digest), so
    the table does not list them.
    """

    key = CharField(max_length=64, primary_key=True)
    # The table, this column and the index below keep the names the sign-in throttle, its first
    # user, gave them: nothing in a database had to change when other limits came to share it.
    hits = IntegerField(default=0, column_name="failures")
    window_start = DateTimeField(default=utcnow)

    class Meta:
        table_name = "loginthrottle"


Counter.add_index(Counter.window_start, name="loginthrottle_window_start")


def key(kind, value):
    """The counter key of `value` counted as `kind` (say "email" or "api-token"): a SHA-256."""
    return digest(f"{kind}:{value}")


def standing(limits, window, now=None):
    """(wait or None, [(key, hits, window start)] of the keys at or past their limit): one read.

    The wait is the longest of those keys' (a timedelta), None when every key is under its limit.
    """
    now = now or utcnow()
    limit_of = dict(limits)
    rows = (
        Counter.select(Counter.key, Counter.hits, Counter.window_start)
        .where(Counter.key.in_(list(limit_of)) & (Counter.window_start > now - window))
        .tuples()
    )
    over = [(key, hits, start) for key, hits, start in rows if hits >= limit_of[key]]
    waits = [start + window - now for _, _, start in over]
    return (max(waits) if waits else None), over


def hit(limits, window, now=None):
    """Count a hit on every key; returns (wait or None, reservation), the wait when a key went past its limit.

    Each key is one atomic upsert in its own statement (no transaction spanning them, so none waits
    on a lock another holds); the count it returns includes every concurrent hit before it. The
    reservation, ((key, window start), ...), is what give-backs need to find this hit's window again.
    """
    now = now or utcnow()
    expired = Counter.window_start <= now - window
    reservation, waits = [], []
    for key, limit in limits:
        hits, start = (
            Counter.insert(key=key, hits=1, window_start=now)
            .on_conflict(
                conflict_target=[Counter.key],
                update={
                    Counter.hits: Case(None, [(expired, 1)], Counter.hits + 1),
                    Counter.window_start: Case(None, [(expired, now)], Counter.window_start),
                },
            )
            .returning(Counter.hits, Counter.window_start)
            .tuples()
            .execute()
        )[0]
        reservation.append((key, start))
        if hits > limit:
            waits.append(start + window - now)
    return (max(waits) if waits else None), tuple(reservation)


def admit(limits, window, now=None):
    """(wait, None) when the try must wait, else hit() it: a read first, so a refused try writes nothing."""
    now = now or utcnow()
    wait, _ = standing(limits, window, now)
    if wait is not None:
        return wait, None
    return hit(limits, window, now)


def mark_refused(key, hits, window_start):
    """Move a counter at its limit (`hits`) one past it; True only for the one caller whose UPDATE did.

    Of many tries refused at once, this tells the first of its window from the rest, by row count.
    """
    return Counter.update(hits=Counter.hits + 1).where(
        (Counter.key == key) & (Counter.hits == hits) & (Counter.window_start == window_start)
    ).execute() == 1


def forget(key):
    """Clear a key's counter."""
    Counter.delete().where(Counter.key == key).execute()


def take_back(key, window_start):
    """Take one hit off a key's counter, if it is still in the window the hit was counted in."""
    Counter.update(hits=Counter.hits - 1).where(
        (Counter.key == key) & (Counter.window_start == window_start) & (Counter.hits > 0)
    ).execute()


def window_left(key, window, now=None):
    """How long until the key's window ends (a timedelta, 0 when it has none under way)."""
    now = now or utcnow()
    start = Counter.select(Counter.window_start).where(Counter.key == key).scalar()
    return max(start + window - now, timedelta(0)) if start is not None else timedelta(0)


def purge_spent(window, now=None):
    """Delete the counters whose window has ended; returns how many.

    Counters of every kind share the table, so `window` must be the longest of theirs.
    """
    now = now or utcnow()
    return Counter.delete().where(Counter.window_start <= now - window).execute()


# --- how a refusal says it: the same words and the same Retry-After for every limit --------------


def minutes(wait):
    """A wait as whole minutes for a message, at least 1."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def try_again_in(wait):
    """The end of a refusal's message: "try again in 5 minutes"."""
    whole = minutes(wait)
    return f"try again in {whole} minute{'' if whole == 1 else 's'}"


def retry_after(wait):
    """The Retry-After header's value for a wait: whole seconds, rounded up past it, at least 1."""
    return str(max(1, int(wait.total_seconds()) + 1))
