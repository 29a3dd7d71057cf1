"""The billing API's rate limit counts in the shared counters (core/limiter.py, table loginthrottle),
as the sign-in throttle does, so apitoken's own window columns are no longer used and go.

No row is moved: a window lasts a minute, so a token that was inside one when the upgrade ran
starts a new one with its next request (for that one minute it may get up to twice API_RATE_LIMIT).
"""


def up(migrator, db):
    migrator.migrate(
        migrator.drop_column("apitoken", "window_started_at"),
        migrator.drop_column("apitoken", "window_count"),
    )
