"""What the commands share: text arguments that refuse hidden characters, the password prompt, the database opened for an operator."""
from contextlib import contextmanager

import click

from .. import audit
from .. import migrations as schema
from ..core.text import describe_character, hidden_character
from ..extensions import db
from ..identity.passwords import password_problem


class PlainText(click.ParamType):
    """A command-line text that becomes data: control, format and bidi-override characters are refused."""

    name = "text"

    def convert(self, value, param, ctx):
        ch = hidden_character(value)
        if ch is not None:
            self.fail(f"contains an invisible or control character ({describe_character(ch)}); "
                      "type the value without it.", param, ctx)
        return value


TEXT = PlainText()


def password_meeting_the_rules(password, email):
    """The password given, or prompted for until it meets the password rules; one given that does not is refused."""
    if password:
        problem = password_problem(password, email)
        if problem:
            raise click.ClickException(f"The password is refused: {problem}")
        return password
    while True:
        password = click.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True, type=TEXT)
        problem = password_problem(password, email)
        if problem is None:
            return password
        click.echo(problem, err=True)


@contextmanager
def schema_work():
    """Open the database for a schema command; a SchemaError becomes a one-line error, exit 1."""
    with db.database.connection_context():
        try:
            yield db.database
        except schema.SchemaError as error:
            raise click.ClickException(str(error)) from None


@contextmanager
def operator_work():
    """The database open for an operator's command; its audit entries name "command line" as the actor."""
    with db.database.connection_context(), audit.acting_as(audit.COMMAND_LINE):
        yield


def report_applied(applied):
    for name in applied:
        click.echo(f"applied: {name}")


class Misconfigured(click.ClickException):
    """The settings cannot work; exit status 2, so cron tells it apart from a send that failed (1)."""

    exit_code = 2
