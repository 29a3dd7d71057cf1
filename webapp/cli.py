"""`flask` commands for operators and cron."""
import click
from flask import current_app
from peewee import IntegrityError

from . import demo
from .extensions import db
from .licensing import business_today
from .models import Account, User, create_tables


def _today():
    return business_today(current_app.config["BUSINESS_TIMEZONE"])


def _password(password, email):
    if password:
        return password
    return click.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True)


@click.command("init-db")
def init_db():
    """Create the tables and the product list (safe to run again)."""
    with db.database.connection_context():
        create_tables()
    click.echo("Database ready.")


@click.command("create-account")
@click.argument("name")
@click.option("--billing-day", type=click.IntRange(1, 31), default=1, show_default=True,
              help="Day of the month the account's billing cycle starts.")
def create_account(name, billing_day):
    """Create an active customer account, enrolled in BYOL."""
    with db.database.connection_context():
        try:
            Account.create(name=name.strip(), billing_day=billing_day)
        except IntegrityError:
            raise click.ClickException(f"An account named {name!r} already exists.") from None
    click.echo(f"Created account {name!r} (billing day {billing_day}, BYOL).")


def _create_user(email, password, **fields):
    email = email.strip().lower()
    user = User(email=email, **fields)
    user.set_password(_password(password, email))
    try:
        user.save()
    except IntegrityError:
        raise click.ClickException(f"A user with the email {email} already exists.") from None
    return user


@click.command("create-user")
@click.argument("email")
@click.option("--account", "account_name", required=True, help="Name of the user's account.")
@click.option("--authorized", is_flag=True, help="May open the Onboarding Portal.")
@click.option("--name", default="", help="The user's full name.")
@click.option("--password", help="Prompted (hidden) when not given.")
def create_user(email, account_name, authorized, name, password):
    """Create a customer user on an account."""
    with db.database.connection_context():
        account = Account.get_or_none(Account.name == account_name)
        if account is None:
            raise click.ClickException(f"No account named {account_name!r}.")
        _create_user(email, password, account=account, name=name, is_authorized=authorized)
    click.echo(f"Created {'authorized ' if authorized else ''}user {email} on {account_name!r}.")


@click.command("create-admin")
@click.argument("email")
@click.option("--password", help="Prompted (hidden) when not given.")
def create_admin(email, password):
    """Create a staff admin, who sees every account."""
    with db.database.connection_context():
        _create_user(email, password, is_admin=True, name="")
    click.echo(f"Created admin {email}.")


@click.command("seed-demo")
def seed_demo():
    """A demo account with licenses in every status, its users and an admin; prints the logins."""
    with db.database.connection_context():
        create_tables()
        credentials = demo.seed(_today())
    click.echo(f"Demo account: {demo.DEMO_ACCOUNT}")
    for role, email, password in credentials:
        click.echo(f"  {role:28} {email}  password: {password}")


COMMANDS = [init_db, create_account, create_user, create_admin, seed_demo]


def register(app):
    for command in COMMANDS:
        app.cli.add_command(command)
