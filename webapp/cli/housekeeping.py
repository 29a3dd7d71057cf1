"""`flask purge-uploads` and `flask purge-sessions`, run daily from cron: they keep the tables small;
`flask purge-audit`, the audit trail's retention, run when the provider's retention policy says."""
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import audit
from ..billing import api_tokens
from ..core import clock, limiter
from ..core.filters import filesize
from ..extensions import db
from ..identity import links as tokens
from ..identity import sessions
from ..identity import throttle as login_throttle
from ..licenses import proofs


@click.command("purge-uploads")
@with_appcontext
def purge_uploads():
    """Delete uploaded proof that no license uses, once older than UPLOAD_ORPHAN_MAX_AGE_HOURS (run daily from cron).

    Safe to run while the portal is in use and twice at once: a document any license version uses
    is never deleted, also when a Save attaches it during the purge.
    """
    hours = current_app.config["UPLOAD_ORPHAN_MAX_AGE_HOURS"]
    cutoff = clock.now() - timedelta(hours=hours)
    with db.database.connection_context():
        count, size = proofs.purge_unattached(cutoff)
    click.echo(f"purged {count} {'upload' if count == 1 else 'uploads'} ({filesize(size)}) that no license uses, "
               f"uploaded before {cutoff:%Y-%m-%d %H:%M} UTC ({hours:g} hours ago)")


@click.command("purge-sessions")
@with_appcontext
def purge_sessions():
    """Delete sessions past SESSION_IDLE_TIMEOUT_HOURS or SESSION_LIFETIME_DAYS, and failed-login
    (and API rate-limit) counters whose window has ended (run daily from cron).

    Both are refused or ignored whether or not this runs; it keeps the tables small.
    """
    config = current_app.config
    with db.database.connection_context():
        count = sessions.purge_expired(config["SESSION_IDLE_TIMEOUT"], config["SESSION_LIFETIME"])
        # One table holds every kind of counter (sign-ins and second-factor codes, reset requests, the
        # API's requests per token): only what is past the longest window is spent for all of them.
        longest = max(login_throttle.Limits.from_config(config).window,
                      login_throttle.Limits.of_reset_requests(config).window, api_tokens.RATE_WINDOW)
        counters = limiter.purge_spent(longest, clock.now())
        used_links = tokens.purge_spent(clock.now(), timedelta(days=1))
    click.echo(f"purged {count} expired {'session' if count == 1 else 'sessions'}")
    click.echo(f"purged {used_links} used or expired password {'link' if used_links == 1 else 'links'}")
    click.echo(f"purged {counters} failed-login {'counter' if counters == 1 else 'counters'} past their window")


# The audit trail answers billing disputes: entries younger than this cannot be purged.
AUDIT_MIN_RETENTION_DAYS = 30


@click.command("purge-audit")
@click.option("--older-than-days", "days", type=click.IntRange(min=AUDIT_MIN_RETENTION_DAYS), required=True,
              help=f"Delete entries recorded more than this many days ago (at least {AUDIT_MIN_RETENTION_DAYS}).")
@with_appcontext
def purge_audit(days):
    """Delete audit entries past an age: the only way to remove any, since the database refuses every
    other UPDATE or DELETE of an entry. The purge is itself recorded as an audit entry."""
    cutoff = clock.now() - timedelta(days=days)
    with db.database.connection_context(), audit.acting_as(audit.COMMAND_LINE):
        removed = audit.purge_older_than(cutoff)
    click.echo(f"purged {removed} audit {'entry' if removed == 1 else 'entries'} recorded before "
               f"{cutoff:%Y-%m-%d %H:%M} UTC ({days} days ago)")
