"""`flask billing-report`, `create-api-token` and `revoke-api-token`."""
import json

import click
from flask import current_app
from flask.cli import with_appcontext

from ..billing import api_tokens
from ..billing import report as billing_report
from ..billing import rules as billing
from ..core import clock
from ..extensions import db
from ._common import (
    operator_work,
)


def _cycle_option(ctx, param, value):
    if value is None:
        return None
    cycle = billing.parse_cycle(value)
    if cycle is None:
        raise click.BadParameter("give a month as YYYY-MM, e.g. 2027-01")
    return cycle


@click.command("billing-report")
@click.option("--cycle", callback=_cycle_option, metavar="YYYY-MM",
              help="The month whose billing cycles to report. Default: next month.")
@click.option("--format", "output", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@with_appcontext
def billing_report_command(cycle, output):
    """Print each account's billing mode, reason, BYOL seats and earliest expiration for a cycle."""
    today = clock.today()
    year, month = cycle or billing.next_cycle(today)
    with db.database.connection_context():
        report = billing_report.billing_report(
            year, month, today, current_app.config["BUSINESS_TIMEZONE"],
            must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
        )
    if output == "csv":
        click.echo(billing_report.as_csv(report.rows), nl=False)
    else:
        rows = [row.as_dict() for row in report.rows]
        click.echo(json.dumps({"cycle": billing.format_cycle(year, month), "accounts": rows}, indent=1))


def _token_name(name):
    name = " ".join(name.split())
    if not name or len(name) > 100 or not name.isprintable():
        raise click.BadParameter("give a name of 1 to 100 printable characters", param_hint="NAME")
    return name


@click.command("create-api-token")
@click.argument("name")
@with_appcontext
def create_api_token(name):
    """Create a bearer token for the billing API; it is printed once and stored only as a hash."""
    name = _token_name(name)
    with operator_work():
        try:
            token = api_tokens.create_token(name)
        except api_tokens.TokenNameTaken:
            raise click.ClickException(f"A token named {name!r} exists; revoke it first or choose another name.") from None
    click.echo(f"API token {name!r} (shown only now; keep it secret):", err=True)
    click.echo(token)


@click.command("revoke-api-token")
@click.argument("name")
@with_appcontext
def revoke_api_token(name):
    """Revoke a billing API token: requests with it get 401 from now on."""
    name = _token_name(name)
    with operator_work():
        if not api_tokens.revoke_token(name):
            raise click.ClickException(f"No token named {name!r}.")
    click.echo(f"Revoked API token {name!r}.")
