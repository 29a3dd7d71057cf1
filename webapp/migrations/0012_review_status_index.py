"""An index on license versions' review state and submission time.

The review queue and the accounts list's "proof awaiting review" filter look for the few pending
versions among every version ever submitted; without it each request read the whole table.
No row changes.
"""


def up(migrator, db):
    migrator.migrate(
        migrator.add_index("licenseversion", ("review_status", "submitted_at"), False),
    )
