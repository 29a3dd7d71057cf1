"""Staff TOTP secrets encrypted at rest (webapp.core.secret_box): the column grows to hold a Fernet
token, and every secret stored in plain base32 until now is encrypted under the first key of
TOTP_ENCRYPTION_KEYS (run through `flask db upgrade` or init-db, which know the keys; without them
the migration fails and is rolled back).
"""
from peewee import CharField

from webapp.core import secret_box


def up(migrator, db):
    migrator.migrate(migrator.alter_column_type("user", "totp_secret", CharField(max_length=255, null=True)))
    rows = db.execute_sql('SELECT "id", "totp_secret" FROM "user" WHERE "totp_secret" IS NOT NULL').fetchall()
    plain = [(user_id, secret) for user_id, secret in rows if not secret_box.is_sealed(secret)]
    if not plain:
        return
    for user_id, secret in plain:
        db.execute_sql(f'UPDATE "user" SET "totp_secret" = {db.param} WHERE "id" = {db.param}',
                       (secret_box.seal(secret), user_id))
