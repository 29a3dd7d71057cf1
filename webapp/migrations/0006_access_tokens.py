"""Single-use links to Set password, and deactivated users.

`accesstoken` keeps the SHA-256 of each link's token, its purpose (reset or invite), its user, when
it expires and when it was used. `user.deactivated_at` is set when staff deactivate a user: they
can no longer sign in, and their rows stay for the history that names them. Existing users are
active (NULL).
"""
import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, Model


def models(db):
    """The table this migration adds, frozen as it was when it was written."""

    class Base(Model):
        class Meta:
            database = db

    class User(Base):
        class Meta:
            table_name = "user"

    class AccessToken(Base):
        token_hash = CharField(max_length=64, unique=True)
        purpose = CharField(max_length=16)
        user = ForeignKeyField(User, on_delete="CASCADE")
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            table_name = "accesstoken"
            indexes = ((("user", "purpose"), False),)

    return [AccessToken]


def up(migrator, db):
    migrator.migrate(migrator.add_column("user", "deactivated_at", DateTimeField(null=True)))
    db.create_tables(models(db), safe=False)
