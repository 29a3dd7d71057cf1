"""`flask create-account`, `create-user`, `create-admin`, `set-password` and `reset-2fa`."""

import click
from flask.cli import with_appcontext
from peewee import IntegrityError

from .. import audit
from ..accounts.models import Account, User
from ..extensions import db
from ..identity import sessions, two_factor
from ._common import TEXT, operator_work, password_meeting_the_rules


@click.command("create-account")
@click.argument("name", type=TEXT)
@click.option("--billing-day", type=click.IntRange(1, 31), default=1, show_default=True,
              help="Day of the month the account's billing cycle starts.")
@with_appcontext
def create_account(name, billing_day):
    """Create an active customer account, enrolled in BYOL."""
    with operator_work():
        try:
            with db.database.atomic():
                account = Account.create(name=name.strip(), billing_day=billing_day)
                audit.record("account.created", account=account.id, subject=account.name,
                             after={"name": account.name, "billing_day": billing_day, "status": account.status,
                                    "enrollment": "byol"})
        except IntegrityError:
            raise click.ClickException(f"An account named {name!r} already exists.") from None
    click.echo(f"Created account {name!r} (billing day {billing_day}, BYOL).")


def _create_user(email, password, **fields):
    email = email.strip().lower()
    user = User(email=email, **fields)
    user.set_password(password_meeting_the_rules(password, email))
    try:
        with db.database.atomic():
            user.save()
            audit.record("user.created", account=user.account_id, subject=email, after={
                "email": email, "name": user.name, "is_admin": user.is_admin, "is_authorized": user.is_authorized,
            })
    except IntegrityError:
        raise click.ClickException(f"A user with the email {email} already exists.") from None
    return user


@click.command("create-user")
@click.argument("email", type=TEXT)
@click.option("--account", "account_name", type=TEXT, required=True, help="Name of the user's account.")
@click.option("--authorized", is_flag=True, help="May open the Onboarding Portal.")
@click.option("--name", type=TEXT, default="", help="The user's full name.")
@click.option("--password", type=TEXT, help="Prompted (hidden) when not given.")
@with_appcontext
def create_user(email, account_name, authorized, name, password):
    """Create a customer user on an account."""
    with operator_work():
        account = Account.get_or_none(Account.name == account_name)
        if account is None:
            raise click.ClickException(f"No account named {account_name!r}.")
        _create_user(email, password, account=account, name=name, is_authorized=authorized)
    click.echo(f"Created {'authorized ' if authorized else ''}user {email} on {account_name!r}.")


@click.command("create-admin")
@click.argument("email", type=TEXT)
@click.option("--password", type=TEXT, help="Prompted (hidden) when not given.")
@with_appcontext
def create_admin(email, password):
    """Create a staff admin, who sees every account."""
    with operator_work():
        _create_user(email, password, is_admin=True, name="")
    click.echo(f"Created admin {email}.")


@click.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted (hidden) when not given.")
@with_appcontext
def set_password(email, password):
    """Give a user a new password; every session the user had is ended."""
    email = email.strip().lower()
    with operator_work():
        user = User.get_or_none(User.email == email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        password = password_meeting_the_rules(password, email)
        with db.database.atomic():
            sessions.change_password(user, password)
            audit.record("user.password_changed", account=user.account_id, subject=email,
                         after={"password": "set with flask set-password"})
    click.echo(f"New password set for {email}; their sessions were ended.")


@click.command("reset-2fa")
@click.argument("email", type=TEXT)
@with_appcontext
def reset_2fa(email):
    """Clear a staff admin's lost authenticator and recovery codes, and end their sessions.

    With ADMIN_2FA_REQUIRED on, they set up a new authenticator at their next sign-in.
    """
    email = email.strip().lower()
    with operator_work():
        user = User.get_or_none(User.email == email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        if not user.is_admin:
            # Customers have no second factor: clearing one would only end their sessions and log a change.
            raise click.ClickException(f"{email} is not a staff admin; only staff have a second factor to reset. "
                                       "Nothing was changed.")
        had_one = bool(user.totp_secret)
        ended = two_factor.reset(user.id)
    what = "Authenticator and recovery codes cleared" if had_one else "No authenticator was set up; nothing to clear"
    click.echo(f"{what} for {email}; {ended} {'session' if ended == 1 else 'sessions'} ended.")
