"""Staff sign in with a second factor: an admin's TOTP secret and the last time step it
accepted, ten single-use recovery codes kept as SHA-256, and on each sign-in when the second factor
was passed and the secret the enrolment page shows until a first code confirms it.

Every new column is nullable: existing admins have no authenticator, and existing sessions have not
passed a second factor (with ADMIN_2FA_REQUIRED on, an admin then enrols before reaching any admin page).
"""
import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model


def models(db):
    """The table this migration adds, frozen as it was when it was written."""

    class Base(Model):
        class Meta:
            database = db

    class User(Base):
        class Meta:
            table_name = "user"

    class RecoveryCode(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        code_hash = CharField(max_length=64)
        used_at = DateTimeField(null=True)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "recoverycode"
            indexes = ((("user", "code_hash"), True),)

    return [RecoveryCode]


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("user", "totp_secret", CharField(max_length=64, null=True)),
        migrator.add_column("user", "totp_last_step", IntegerField(null=True)),
        migrator.add_column("loginsession", "second_factor_at", DateTimeField(null=True)),
        migrator.add_column("loginsession", "pending_totp_secret", CharField(max_length=64, null=True)),
    )
    db.create_tables(models(db), safe=False)
