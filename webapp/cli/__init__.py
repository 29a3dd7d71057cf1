"""`flask` commands for operators and cron, one module per group; registered by create_app."""
from . import billing, database, housekeeping, people, reminders

# Each command carries @with_appcontext: `flask` pushes an app context for app.cli commands, but
# app.test_cli_runner() invokes app.cli directly, where a plain click command gets none.
COMMANDS = [
    database.init_db, database.db_group, database.seed_demo,
    people.create_account, people.create_user, people.create_admin, people.set_password, people.reset_2fa,
    reminders.send_reminders,
    housekeeping.purge_uploads, housekeeping.purge_sessions, housekeeping.purge_audit,
    billing.billing_report_command, billing.create_api_token, billing.revoke_api_token,
]


def register(app):
    for command in COMMANDS:
        app.cli.add_command(command)
