"""Reminders to more than one person: a reminder row is now one message to one person. `audience` is
0 for the contact person on the license's form (every existing row) or the id of the authorized user
a step escalates to, and it joins the unique key, so each person still gets each step exactly once.
Existing rows keep their kind ("expiry-30-days", the default schedule's only step).
"""
from peewee import IntegerField

OLD_INDEX = "reminder_license_id_expires_on_kind"


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("reminder", "audience", IntegerField(default=0)),
        migrator.drop_index("reminder", OLD_INDEX),
        migrator.add_index("reminder", ("license_id", "expires_on", "kind", "audience"), True),
    )
