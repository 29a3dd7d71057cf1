"""`flask init-db`, `flask db upgrade|status|new`, and `flask seed-demo`."""
import sys

import click
from flask.cli import with_appcontext

from .. import audit
from .. import migrations as schema
from ..core import clock
from ..extensions import db
from ..migrations import MODELS
from . import demo
from ._common import TEXT, report_applied, schema_work


@click.command("init-db")
@with_appcontext
def init_db():
    """Apply every pending migration (`flask db upgrade`), then the product list; safe to run again."""
    with schema_work() as database:
        report_applied(schema.prepare(database))
    click.echo("Database ready.")


@click.group("db")
def db_group():
    """Schema migrations (webapp/migrations/)."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply every pending migration in order, each in its own transaction."""
    with schema_work() as database:
        applied = schema.upgrade(database)
    report_applied(applied)
    click.echo(f"Database is up to date ({len(applied)} migration(s) applied).")


@db_group.command("status")
@with_appcontext
def db_status():
    """List applied and pending migrations; exits 1 while any is pending."""
    with schema_work() as database:
        rows = schema.status(database)
    for name, applied in rows:
        click.echo(f"{'applied ' + applied.strftime('%Y-%m-%d %H:%M:%S') if applied else 'pending':27}  {name}")
    if any(applied is None for _, applied in rows):
        sys.exit(1)


@db_group.command("new")
@click.argument("name", type=TEXT)
@with_appcontext
def db_new(name):
    """Write the next numbered migration, drafted from how the models differ from this database."""
    with db.database.connection_context():
        path = schema.new_migration(db.database, MODELS, name)
    click.echo(f"Wrote {path}: read it, finish any TODO, and test the upgrade.")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """A demo account with licenses in every status, its users and an admin; prints the logins."""
    with schema_work() as database, audit.acting_as(audit.COMMAND_LINE):
        report_applied(schema.prepare(database))
        credentials = demo.seed(clock.today())
    click.echo(f"Demo account: {demo.DEMO_ACCOUNT}")
    for role, email, password in credentials:
        click.echo(f"  {role:28} {email}  password: {password}")
