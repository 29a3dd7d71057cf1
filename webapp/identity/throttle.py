"""Login throttling: failed logins counted in the database, per email and per client address.

The counters live in the database so that every gunicorn worker and every web server shares them.
Each key counts failures in a fixed window that starts at its first failure. A try is checked with
one read before anything else happens, so a refused try costs no password hash and no write. A try
that may go ahead first *reserves* its failure with an atomic upsert (INSERT ... ON CONFLICT DO
UPDATE ... RETURNING, on SQLite and PostgreSQL alike); the count it returns decides, so concurrent
tries can never get more than the limit past the check. A successful login gives its reservation
back: the email's counter is cleared, the address's counter only loses this one try, so one
account an attacker owns cannot reset the count of the address they guess from.

A staff admin's authentication code (the second factor) is counted the same way under keys of its
own, per admin and per address (Attempt.of_second_factor), so wrong codes and wrong passwords do
not use up each other's tries.
"""
import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import timedelta

from peewee import Case

from ..core.clock import utcnow
from .models import LoginThrottle


@dataclass(frozen=True)
class Limits:
    """How many failed logins per email and per client address a window allows."""

    per_email: int
    per_address: int
    window: timedelta

    @classmethod
    def from_config(cls, config, prefix="LOGIN_MAX_FAILURES", window="LOGIN_THROTTLE_WINDOW_MINUTES"):
        """The login limits; another counter (the reset requests) names its own settings."""
        return cls(
            per_email=config[f"{prefix}_PER_EMAIL"],
            per_address=config[f"{prefix}_PER_ADDRESS"],
            window=timedelta(minutes=config[window]),
        )


@dataclass(frozen=True)
class Attempt:
    """One login try: the counter keys it is charged to, with each key's limit."""

    keys: tuple  # ((key, limit), ...)

    @classmethod
    def of(cls, email, address, limits, scope=""):
        """The try's keys; a `scope` ("reset:") gives another counter its own keys beside login's."""
        return cls(keys=((email_key(email, scope), limits.per_email), (address_key(address, scope), limits.per_address)))

    @classmethod
    def of_second_factor(cls, user_id, address, limits):
        """A try at an admin's authentication code: counted per admin and per address, apart from logins."""
        return cls(keys=(
            (_key("second-factor-user", user_id), limits.per_email),
            (address_key(address, scope="second-factor-"), limits.per_address),
        ))


def _key(kind, value):
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8", "surrogatepass")).hexdigest()


def email_key(email, scope=""):
    """The counter key of an email, normalised as login looks it up (trimmed, lower case)."""
    return _key(f"{scope}email", (email or "").strip().lower())


def address_key(address, scope=""):
    """The counter key of a client address; an IPv6 client counts as its /64, which one host can fill."""
    kind = f"{scope}address"
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return _key(kind, address or "")
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return _key(kind, ipaddress.ip_network(f"{ip}/64", strict=False))
    return _key(kind, ip)


def _standing(attempt, limits, now):
    """(wait or None, [(key, failures, window start)] of the keys at or past their limit): one read."""
    limit_of = dict(attempt.keys)
    rows = (
        LoginThrottle.select(LoginThrottle.key, LoginThrottle.failures, LoginThrottle.window_start)
        .where(LoginThrottle.key.in_(list(limit_of)) & (LoginThrottle.window_start > now - limits.window))
        .tuples()
    )
    over = [(key, failures, start) for key, failures, start in rows if failures >= limit_of[key]]
    waits = [start + limits.window - now for _, _, start in over]
    return (max(waits) if waits else None), over


def refused_for(attempt, limits, now=None):
    """How long the try must wait (a timedelta), or None when it may go ahead. One read, no write."""
    return _standing(attempt, limits, now or utcnow())[0]


def admit(attempt, limits):
    """(wait, None) when the try must wait, else (None, reservation): a read first, so a try past the
    limit costs neither a hash nor a write, then the counting upsert (`reserve`)."""
    wait = refused_for(attempt, limits)
    if wait is not None:
        return wait, None
    return reserve(attempt, limits)


def admit_sign_in(attempt, limits):
    """admit() for the sign-in forms: (wait, reservation, first_refusal).

    `first_refusal` is True for the first try refused in a key's window, the one the audit trail
    records as a throttled sign-in. That try moves the counter one past the limit with a conditional
    UPDATE whose row count decides, so of two racing only one is first; the refused tries after it
    see the counter past the limit and stay one read. A try that crossed the limit in the counting
    upsert (racing the read of others) counts as a first too.
    """
    now = utcnow()
    wait, over = _standing(attempt, limits, now)
    if wait is None:
        wait, reservation = reserve(attempt, limits, now)
        return wait, reservation, wait is not None
    limit_of = dict(attempt.keys)
    first = False
    for key, failures, start in over:
        if failures == limit_of[key]:
            marked = LoginThrottle.update(failures=LoginThrottle.failures + 1).where(
                (LoginThrottle.key == key) & (LoginThrottle.failures == failures) & (LoginThrottle.window_start == start)
            ).execute()
            first = first or marked == 1
    return wait, None, first


def reserve(attempt, limits, now=None):
    """Count the try as a failure before checking the password; returns (wait or None, reservation).

    Each key is one atomic upsert in its own statement (no transaction spanning both, so no lock
    waits on each other); the failures it returns include every concurrent try before it.
    """
    now = now or utcnow()
    expired = LoginThrottle.window_start <= now - limits.window
    reservation, waits = [], []
    for key, limit in attempt.keys:
        failures, start = (
            LoginThrottle.insert(key=key, failures=1, window_start=now)
            .on_conflict(
                conflict_target=[LoginThrottle.key],
                update={
                    LoginThrottle.failures: Case(None, [(expired, 1)], LoginThrottle.failures + 1),
                    LoginThrottle.window_start: Case(None, [(expired, now)], LoginThrottle.window_start),
                },
            )
            .returning(LoginThrottle.failures, LoginThrottle.window_start)
            .tuples()
            .execute()
        )[0]
        reservation.append((key, start))
        if failures > limit:
            waits.append(start + limits.window - now)
    return (max(waits) if waits else None), tuple(reservation)


def give_back(reservation):
    """A login succeeded: clear the email's counter, and take only this one try off the address's."""
    (email, _), (address, address_window) = reservation
    LoginThrottle.delete().where(LoginThrottle.key == email).execute()
    LoginThrottle.update(failures=LoginThrottle.failures - 1).where(
        (LoginThrottle.key == address)
        & (LoginThrottle.window_start == address_window)
        & (LoginThrottle.failures > 0)
    ).execute()


def purge_spent(limits, now=None):
    """Delete the counters whose window has ended; returns how many."""
    now = now or utcnow()
    return LoginThrottle.delete().where(LoginThrottle.window_start <= now - limits.window).execute()


def minutes(wait):
    """A wait as whole minutes for a message, at least 1."""
    return max(1, math.ceil(wait.total_seconds() / 60))
