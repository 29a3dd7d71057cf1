"""`flask verify-tenants`, run daily from cron: every connected account's Microsoft 365 tenant read again."""
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import audit
from ..core import clock
from ..core.text import printable
from ..extensions import db
from ..microsoft365 import graph, store
from ._common import Misconfigured


@click.command("verify-tenants")
@with_appcontext
def verify_tenants():
    """Read each connected Microsoft 365 tenant's subscriptions into today's snapshot (run daily from cron).

    A tenant that no longer lets the app in (401/403, an AADSTS error) becomes not connected; its customer's
    tab asks to reconnect. The last line is always `read N, not connected N, failed N, accepted N`. Exits 0
    when every connected tenant was read, 1 when one was not, 2 when the settings cannot work (no
    M365_CLIENT_ID, or Microsoft refused the client id or secret).
    """
    config = current_app.config
    if not store.enabled(config):
        raise Misconfigured("M365_CLIENT_ID is not set, so no tenant can be read; set it (README, "
                            "\"Verified by Microsoft 365\") or remove the verify-tenants cron line.")
    settings = graph.Settings.from_config(config)
    read = lost = failed = accepted = waiting = 0
    with db.database.connection_context(), audit.acting_as(audit.CRON):
        for account_id, tenant, name, connected in store.linked_accounts():
            if not connected:
                waiting += 1
                continue
            try:
                reading = graph.read_tenant(settings, tenant)
            except graph.BadCredentials as error:
                raise Misconfigured(printable(f"Microsoft refused the app's credentials (M365_CLIENT_ID, "
                                              f"M365_CLIENT_SECRET): {error}")) from None
            except graph.ConsentMissing as error:
                store.record_consent_lost(account_id, tenant, str(error), clock.now())
                lost += 1
                click.echo(printable(f"not connected: {name} ({tenant}): {error}"), err=True)
                continue
            except graph.GraphError as error:
                store.record_failure(account_id, tenant, str(error), clock.now())
                failed += 1
                click.echo(printable(f"failed: {name} ({tenant}): {error}"), err=True)
                continue
            snapshot = store.record_reading(account_id, tenant, reading, clock.now(), clock.today())
            read += 1
            if config["AUTO_ACCEPT_VERIFIED"]:
                accepted += store.accept_verified(account_id, snapshot)
        exit_status = 1 if lost or failed else 0
        store.record_run(read=read, not_connected=lost, failed=failed, accepted=accepted, waiting=waiting,
                         exit_status=exit_status)
    if waiting:
        click.echo(f"{waiting} tenant{'s' if waiting != 1 else ''} still waiting for their customer to reconnect")
    click.echo(f"read {read}, not connected {lost}, failed {failed}, accepted {accepted}")
    if exit_status:
        sys.exit(exit_status)
