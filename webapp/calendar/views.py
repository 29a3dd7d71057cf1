"""The calendar feed: anyone with the secret URL of an active account reads its license dates."""
from datetime import timezone
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response

from ..core import clock
from ..core.mail import portal_url
from ..licenses import store as license_store
from . import feed as calendar_feed

bp = Blueprint("feeds", __name__)


@bp.route("/calendar/<token>.ics")
def calendar(token):
    account = calendar_feed.account_of_token(token)
    if account is None:
        abort(404)
    licenses = [
        calendar_feed.FeedLicense(lic.id, lic.plan, lic.current.seats, lic.current.expires_on, lic.current.submitted_at)
        for lic in license_store.licenses_of(account.id)
    ]
    body = calendar_feed.build_calendar(
        account.name,
        licenses,
        host=urlsplit(current_app.config["PORTAL_URL"]).hostname or "portal",
        portal_url=portal_url("portal.licenses"),
        now=clock.now().replace(tzinfo=timezone.utc),
    )
    response = make_response(body)
    response.mimetype = "text/calendar"
    response.headers["Content-Disposition"] = "inline; filename=licenses.ics"
    # The URL is the secret: keep it out of shared caches and search engines.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
