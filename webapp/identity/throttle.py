"""Login throttling: failed logins counted per email and per client address, over core.limiter.

The limiter's counters are in the database, shared by every worker and server, each a fixed window
from its first hit; a try is checked with one read before anything else, so a refused try costs no
password hash and no write. A try that may go ahead first *reserves* its failure (the limiter's
atomic count), so concurrent tries can never get more than the limit past the check. A successful
login gives its reservation back: the email's counter is cleared, the address's counter only loses
this one try, so one account an attacker owns cannot reset the count of the address they guess from.

A staff admin's authentication code (the second factor) is counted the same way under keys of its
own, per admin and per address (Attempt.of_second_factor), so wrong codes and wrong passwords do
not use up each other's tries; the reset requests count under keys of their own too (scope "reset:").
"""
import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from ..core import limiter
from ..core.clock import utcnow


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

    @classmethod
    def of_reset_requests(cls, config):
        """The limits of Forgot password's reset requests."""
        return cls.from_config(config, "RESET_MAX", "RESET_THROTTLE_WINDOW_MINUTES")


@dataclass(frozen=True)
class Attempt:
    """One login try: the counter keys it is charged to, with each key's limit."""

    keys: tuple  # ((key, limit), ...), as core.limiter takes them

    @classmethod
    def of(cls, email, address, limits, scope=""):
        """The try's keys; a `scope` ("reset:") gives another counter its own keys beside login's."""
        return cls(keys=((email_key(email, scope), limits.per_email), (address_key(address, scope), limits.per_address)))

    @classmethod
    def of_second_factor(cls, user_id, address, limits):
        """A try at an admin's authentication code: counted per admin and per address, apart from logins."""
        return cls(keys=(
            (limiter.key("second-factor-user", user_id), limits.per_email),
            (address_key(address, scope="second-factor-"), limits.per_address),
        ))


def email_key(email, scope=""):
    """The counter key of an email, normalised as login looks it up (trimmed, lower case)."""
    return limiter.key(f"{scope}email", (email or "").strip().lower())


# Every address that is no IP address at all (garbage a proxy passed on) shares one counter, so
# writing it another way never buys a fresh one.
NOT_AN_ADDRESS = "not-an-address"


def canonical_address(text):
    """The client's IP address in one spelling, or None when `text` is none.

    A forwarded address may come written with a port (`10.9.9.9:1234`, `[2001:db8::1]:443`), in
    brackets (`[2001:db8::1]`), with an IPv6 zone (`fe80::1%eth0`), in upper case, or as an IPv4
    address mapped into IPv6 (`::ffff:192.0.2.1`): each is the same client, so each must count alike.
    """
    text = (text or "").strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port (a bare IPv6 address has at least two colons)
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # the zone id names an interface of the sender, not another client
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip


def address_key(address, scope=""):
    """The counter key of a client address, canonical first (see canonical_address); an IPv6 client
    counts as its /64, which one host can fill."""
    kind = f"{scope}address"
    ip = canonical_address(address)
    if ip is None:
        return limiter.key(kind, NOT_AN_ADDRESS)
    if ip.version == 6:
        return limiter.key(kind, ipaddress.ip_network(f"{ip}/64", strict=False))
    return limiter.key(kind, ip)


def admit(attempt, limits):
    """(wait, None) when the try must wait, else (None, reservation): a read first, so a try past the
    limit costs neither a hash nor a write, then the counting upsert."""
    return limiter.admit(attempt.keys, limits.window)


def admit_sign_in(attempt, limits):
    """admit() for the sign-in forms: (wait, reservation, first_refusal).

    `first_refusal` is True for the first try refused in a key's window, the one the audit trail
    records as a throttled sign-in. That try moves the counter one past the limit with a conditional
    UPDATE whose row count decides, so of two racing only one is first; the refused tries after it
    see the counter past the limit and stay one read. A try that crossed the limit in the counting
    upsert (racing the read of others) counts as a first too.
    """
    now = utcnow()
    wait, over = limiter.standing(attempt.keys, limits.window, now)
    if wait is None:
        wait, reservation = limiter.hit(attempt.keys, limits.window, now)
        return wait, reservation, wait is not None
    limit_of = dict(attempt.keys)
    first = False
    for key, failures, start in over:
        if failures == limit_of[key]:
            first = limiter.mark_refused(key, failures, start) or first
    return wait, None, first


def give_back(reservation):
    """A login succeeded: clear the email's counter, and take only this one try off the address's."""
    (email, _), (address, address_window) = reservation
    limiter.forget(email)
    limiter.take_back(address, address_window)
