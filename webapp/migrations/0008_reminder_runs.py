"""Reminder history: one row per `flask send-reminders` run, written when it starts and
again when it ends, so a run that died shows as started and never finished (finished_at NULL)."""
import datetime

from peewee import DateField, DateTimeField, IntegerField, Model, TextField


def models(db):
    """The table this migration adds, frozen as it was when it was written."""

    class ReminderRunLog(Model):
        started_at = DateTimeField(default=datetime.datetime.utcnow, index=True)
        finished_at = DateTimeField(null=True, index=True)
        run_date = DateField()
        sent = IntegerField(default=0)
        failed = IntegerField(default=0)
        skipped = IntegerField(default=0)
        exit_status = IntegerField(null=True)
        note = TextField(default="")

        class Meta:
            database = db
            table_name = "reminderrunlog"

    return [ReminderRunLog]


def up(migrator, db):
    db.create_tables(models(db), safe=False)
